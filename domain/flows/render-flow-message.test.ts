import { MAX_FLOW_MESSAGE_CHARS, renderFlowMessage } from './render-flow-message';

const vars = { firstName: 'Ada', lastName: 'Lovelace', shopName: 'Acme', checkoutUrl: 'https://acme.example/recover/t1' };

describe('renderFlowMessage', () => {
  it('fills the flow placeholders and adds the footer', () => {
    expect(renderFlowMessage({ type: 'send', body: 'Hi {{firstName}}, {{shopName}}: {{checkoutUrl}} code {{discountCode}}', discountCode: 'SAVE5' }, vars, true)).toEqual({
      ok: true,
      text: 'Hi Ada, Acme: https://acme.example/recover/t1 code SAVE5\nReply STOP to opt out',
      segments: 1,
      encoding: 'GSM-7',
      links: 0,
    });
  });

  it('renders written links with the given renderer (a short link of fixed length) and leaves the checkout link as Shopify made it', () => {
    const body = 'Sale https://acme.example/sale and {{link:https://acme.example/faq}}, cart {{checkoutUrl}}';
    const rendered = renderFlowMessage({ type: 'send', body }, vars, false, (index) => `https://l.example/${'x'.repeat(18)}${index}`);
    expect(rendered).toEqual({
      ok: true,
      text: `Sale https://l.example/${'x'.repeat(18)}0 and https://l.example/${'x'.repeat(18)}1, cart https://acme.example/recover/t1`,
      segments: 1,
      encoding: 'GSM-7',
      links: 2,
    });
    // Without a renderer, as written.
    expect(renderFlowMessage({ type: 'send', body }, vars, false)).toMatchObject({ ok: true, text: 'Sale https://acme.example/sale and https://acme.example/faq, cart https://acme.example/recover/t1', links: 2 });
  });

  it('does not send a checkout reminder without its checkout link, an empty text or one too long', () => {
    expect(renderFlowMessage({ type: 'send', body: 'Back? {{checkoutUrl}}' }, { ...vars, checkoutUrl: null }, true)).toEqual({ ok: false, reason: 'no_checkout_url' });
    expect(renderFlowMessage({ type: 'send', body: '{{firstName}}' }, { ...vars, firstName: null }, false)).toEqual({ ok: false, reason: 'empty_message' });
    const long = { ...vars, firstName: 'x'.repeat(200) };
    const body = '{{firstName}} '.repeat(Math.ceil(MAX_FLOW_MESSAGE_CHARS / 200) + 1);
    expect(renderFlowMessage({ type: 'send', body }, long, false)).toEqual({ ok: false, reason: 'too_long' });
  });
});
