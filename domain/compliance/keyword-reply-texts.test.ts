import { countSegments } from '../messaging/segments';
import { DEFAULT_KEYWORD_REPLIES, keywordReplyProblems, renderKeywordReply } from './keyword-reply-texts';

describe('keyword reply texts', () => {
  it('the defaults meet every requirement and fit two segments for a 30-character shop name', () => {
    for (const k of ['STOP', 'START', 'HELP'] as const) {
      expect(keywordReplyProblems(k, DEFAULT_KEYWORD_REPLIES[k])).toEqual([]);
      const text = renderKeywordReply(DEFAULT_KEYWORD_REPLIES[k], { shopName: 'x'.repeat(30), shopUrl: 'https://a.myshopify.com' });
      expect(countSegments(text).segments).toBeLessThanOrEqual(2);
    }
  });

  it('START and HELP must name the shop, say how to stop and that rates may apply', () => {
    expect(keywordReplyProblems('HELP', 'Questions? Write to us.')).toEqual([
      'must name the shop: include {{shopName}}',
      'must say how to opt out: "Reply STOP to unsubscribe"',
      'must say "Msg & data rates may apply"',
    ]);
    expect(keywordReplyProblems('START', '{{shopName}}: welcome! Message and data rates may apply. Reply STOP to opt out.')).toEqual([]);
  });

  it('STOP must confirm the opt-out and carry no link; unknown placeholders and empty or long texts are refused', () => {
    expect(keywordReplyProblems('STOP', '{{shopName}}: see our deals at https://x.example')).toEqual([
      'must confirm the opt-out (e.g. "You are unsubscribed and will receive no more messages")',
      'must not carry a link: a STOP confirmation is not marketing',
    ]);
    expect(keywordReplyProblems('STOP', '{{shopName}} {{firstName}}: you are opted out.')).toEqual(['unknown placeholder {{firstName}} (use {{shopName}} or {{shopUrl}})']);
    expect(keywordReplyProblems('HELP', '   ')).toEqual(['must not be empty']);
    expect(keywordReplyProblems('STOP', `{{shopName}}: unsubscribed. ${'x'.repeat(320)}`)).toContain('must be at most 320 characters');
  });

  it('renders the placeholders', () => {
    expect(renderKeywordReply('{{ shopName }} help: {{shopUrl}}', { shopName: 'Acme', shopUrl: 'https://acme.myshopify.com' })).toBe('Acme help: https://acme.myshopify.com');
  });
});
