import { CONTACT_FIELDS } from './contact-input';
import { STAGED_FIELDS, stageRow } from './import-rows';

describe('stageRow', () => {
  it('stages exactly the fields of a contact', () => {
    expect([...STAGED_FIELDS].sort()).toEqual([...CONTACT_FIELDS].sort());
  });

  it('keeps a row of contact fields as given (the job validates it)', () => {
    expect(stageRow({ phone: 12015550123, firstName: 'Ada', tags: ['a', 'b'] })).toEqual({ data: { phone: 12015550123, firstName: 'Ada', tags: ['a', 'b'] } });
  });

  it.each([
    ['an unknown field', { phone: '+12015550123', colour: 'red', size: 'xl' }, /^colour, size: /],
    ['a name longer than any name', { phone: '+12015550123', firstName: 'x'.repeat(401) }, /^firstName: /],
    ['more tags than a contact may have', { phone: '+12015550123', tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }, /^tags: /],
    ['a phone longer than any phone', { phone: '1'.repeat(65) }, /^phone: /],
  ])('keeps none of the values of a row with %s, only why (naming the field)', (_why, row, problem) => {
    const staged = stageRow(row);
    expect(staged).toEqual({ problem: expect.stringMatching(problem) });
    expect(staged.problem!.length).toBeLessThanOrEqual(200);
    expect(JSON.stringify(staged)).not.toMatch(/red|xl|xxxx|t50|1111/);
  });
});
