import { MAX_FLOW_MESSAGE_CHARS, renderFlowMessage } from './render-flow-message';

const vars = { firstName: 'Ada', lastName: 'Lovelace', shopName: 'Acme', checkoutUrl: 'https://acme.example/recover/t1' };

describe('renderFlowMessage', () => {
  it('fills the flow placeholders, keeps links as written and adds the footer', () => {
    expect(renderFlowMessage({ type: 'send', body: 'Hi {{firstName}}, {{shopName}}: {{checkoutUrl}} code {{discountCode}}', discountCode: 'SAVE5' }, vars, true)).toEqual({
      ok: true,
      text: 'Hi Ada, Acme: https://acme.example/recover/t1 code SAVE5\nReply STOP to opt out',
      segments: 1,
      encoding: 'GSM-7',
    });
  });

  it('does not send a checkout reminder without its checkout link, an empty text or one too long', () => {
    expect(renderFlowMessage({ type: 'send', body: 'Back? {{checkoutUrl}}' }, { ...vars, checkoutUrl: null }, true)).toEqual({ ok: false, reason: 'no_checkout_url' });
    expect(renderFlowMessage({ type: 'send', body: '{{firstName}}' }, { ...vars, firstName: null }, false)).toEqual({ ok: false, reason: 'empty_message' });
    const long = { ...vars, firstName: 'x'.repeat(200) };
    const body = '{{firstName}} '.repeat(Math.ceil(MAX_FLOW_MESSAGE_CHARS / 200) + 1);
    expect(renderFlowMessage({ type: 'send', body }, long, false)).toEqual({ ok: false, reason: 'too_long' });
  });
});
