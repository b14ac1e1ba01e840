import type { ClaimedRecipient } from './claim-batch';
import { recipientReference, renderBatch } from './render-batch';

const recipient = (id: string, o: Partial<ClaimedRecipient> = {}): ClaimedRecipient => ({
  id,
  status: 'sending',
  resend: false,
  attempt: 1,
  phone: '+12015550100',
  firstName: 'Ada',
  lastName: 'Lovelace',
  ...o,
});

const campaign = { body: 'Hi {{firstName|there}}, news from {{shopName}}', shopName: 'Acme', senderId: 'Acme', optOutFooter: true };

describe('renderBatch', () => {
  it('renders placeholders, the footer and the segment count per recipient, referenced by recipient id', () => {
    const r = renderBatch([recipient('7'), recipient('8', { firstName: '  ' })], campaign);
    expect(r.messages).toEqual([
      { reference: 'r7', to: '+12015550100', from: 'Acme', encoding: 'GSM-7', segments: 1, text: 'Hi Ada, news from Acme\nReply STOP to opt out' },
      { reference: 'r8', to: '+12015550100', from: 'Acme', encoding: 'GSM-7', segments: 1, text: 'Hi there, news from Acme\nReply STOP to opt out' },
    ]);
    expect(r.segmentsByReference.get(recipientReference('7'))).toBe(1);
    expect(r.unsendable).toEqual([]);
  });

  it('follows the shop footer setting and switches to UCS-2 (shorter segments) for non-GSM names', () => {
    const long = { ...campaign, body: `{{firstName}} ${'y'.repeat(70)}`, optOutFooter: false };
    const r = renderBatch([recipient('1', { firstName: 'Renée' }), recipient('2', { firstName: 'Łukasz' })], long);
    // "é" is in GSM-7; "Ł" is not, which makes the 77-character text two UCS-2 segments.
    expect(r.messages.map((m) => m.encoding)).toEqual(['GSM-7', 'UCS-2']);
    expect([r.segmentsByReference.get('r1'), r.segmentsByReference.get('r2')]).toEqual([1, 2]);
    expect(r.messages.every((m) => !m.text.includes('STOP'))).toBe(true);
  });

  it('never sends what cannot be sent: no phone, an empty message, a broken template', () => {
    const empty = renderBatch([recipient('1', { firstName: null })], { ...campaign, body: '{{firstName}}', optOutFooter: false });
    expect(empty.unsendable).toEqual([{ id: '1', code: 'empty_message' }]);
    const erased = renderBatch([recipient('2', { phone: null })], campaign);
    expect(erased).toMatchObject({ messages: [], unsendable: [{ id: '2', code: 'no_phone' }] });
    const broken = renderBatch([recipient('3')], { ...campaign, body: 'Hi {{nickname}}' });
    expect(broken.unsendable).toEqual([{ id: '3', code: 'invalid_template' }]);
  });

  it('renders each distinct name once per batch, and every recipient still gets its own message', () => {
    const body = { ...campaign, body: 'Hi {{firstName|there}} {{lastName|friend}}', optOutFooter: false };
    const r = renderBatch(
      [recipient('1'), recipient('2', { phone: '+12015550101' }), recipient('3', { lastName: null }), recipient('4', { firstName: 'Grace', lastName: null })],
      body,
    );
    expect(r.messages.map((m) => [m.reference, m.to, m.text])).toEqual([
      ['r1', '+12015550100', 'Hi Ada Lovelace'],
      ['r2', '+12015550101', 'Hi Ada Lovelace'],
      ['r3', '+12015550100', 'Hi Ada friend'],
      ['r4', '+12015550100', 'Hi Grace friend'],
    ]);
    expect([...r.segmentsByReference.values()]).toEqual([1, 1, 1, 1]);
  });
});
