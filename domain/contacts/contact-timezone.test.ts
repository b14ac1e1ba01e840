import { contactCreateSchema, contactPatchSchema } from './contact-input';
import { collapseByPhone, validateImportRows } from './import-contacts';
import { stageRow } from './import-rows';

describe('contact time zone', () => {
  it('an import row may carry one: staged, validated and canonicalised, the last one given wins', () => {
    expect(stageRow({ phone: '+447911123457', timezone: 'europe/london' })).toEqual({ data: { phone: '+447911123457', timezone: 'europe/london' } });
    const { valid, rejected } = validateImportRows(
      [{ phone: '+447911123457', timezone: 'europe/london' }, { phone: '+447911123457', firstName: 'Ada' }, { phone: '+12125550100', timezone: 'Nowhere/Land' }],
      0,
    );
    expect(rejected).toEqual([expect.objectContaining({ row: 2, message: expect.stringContaining('timezone') })]);
    const [group] = collapseByPhone(valid.map((v) => v.input));
    expect(group?.upsert).toMatchObject({ phoneE164: '+447911123457', timezone: 'Europe/London', firstName: 'Ada' });
  });

  it('the API schemas take a zone name only, and PATCH null clears it', () => {
    expect(contactCreateSchema().parse({ phone: '+12125550100', timezone: 'America/Chicago' }).timezone).toBe('America/Chicago');
    expect(contactCreateSchema().safeParse({ phone: '+12125550100', timezone: '-05:00' }).success).toBe(false);
    expect(contactPatchSchema.parse({ timezone: null }).timezone).toBeNull();
  });
});
