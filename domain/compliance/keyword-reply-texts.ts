import type { InboundKeyword } from './inbound-keyword';

// The confirmation texts for STOP, START and HELP (docs/webhooks.md,
// "Keyword replies"). A shop may word its own, within what carriers require
// of each (CTIA Messaging Principles; the checks below): the program's name,
// and for START and HELP how to stop and that rates may apply. The texts
// take two placeholders: {{shopName}} and {{shopUrl}}.

export const KEYWORD_REPLY_MAX_LENGTH = 320;

export const DEFAULT_KEYWORD_REPLIES: Readonly<Record<InboundKeyword, string>> = {
  STOP: '{{shopName}}: You are unsubscribed and will receive no more messages. Reply START to resubscribe.',
  START: '{{shopName}}: You are subscribed to marketing texts. Msg frequency varies. Msg & data rates may apply. Reply HELP for help. Reply STOP to unsubscribe.',
  HELP: '{{shopName}} marketing texts. Help: {{shopUrl}}. Msg frequency varies. Msg & data rates may apply. Reply STOP to unsubscribe.',
};

const PLACEHOLDER = /\{\{\s*([A-Za-z]+)\s*\}\}/g;
const KNOWN = new Set(['shopName', 'shopUrl']);
const STOP_INSTRUCTION = /\breply\s+stop\s+to\s+(unsubscribe|opt[\s-]?out|cancel|end|stop)\b/i;
const RATES = /\b(msg|message)\s*(&|and)\s*data\s+rates\s+may\s+apply\b/i;
const OPTED_OUT = /\b(unsubscribed|opted[\s-]?out|no\s+(more|further)\s+(messages|texts|msgs))\b/i;

export interface ReplyTextProblem {
  message: string;
}

/**
 * What a custom text lacks of what carriers require, as messages for the
 * `details` of a 400 (empty when it is acceptable):
 *  - every text names the program: `{{shopName}}`;
 *  - STOP confirms the opt-out ("unsubscribed", "opted out" or "no more
 *    messages") and carries no other call to action than START;
 *  - START and HELP say how to stop ("Reply STOP to unsubscribe") and that
 *    "Msg & data rates may apply".
 */
export function keywordReplyProblems(keyword: InboundKeyword, text: string): string[] {
  const problems: string[] = [];
  if (text.trim().length === 0) return ['must not be empty'];
  if (text.length > KEYWORD_REPLY_MAX_LENGTH) problems.push(`must be at most ${KEYWORD_REPLY_MAX_LENGTH} characters`);
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (!KNOWN.has(m[1] as string)) problems.push(`unknown placeholder {{${m[1]}}} (use {{shopName}} or {{shopUrl}})`);
  }
  if (!/\{\{\s*shopName\s*\}\}/.test(text)) problems.push('must name the shop: include {{shopName}}');
  if (keyword === 'STOP') {
    if (!OPTED_OUT.test(text)) problems.push('must confirm the opt-out (e.g. "You are unsubscribed and will receive no more messages")');
    if (/https?:\/\//i.test(text)) problems.push('must not carry a link: a STOP confirmation is not marketing');
  } else {
    if (!STOP_INSTRUCTION.test(text)) problems.push('must say how to opt out: "Reply STOP to unsubscribe"');
    if (!RATES.test(text)) problems.push('must say "Msg & data rates may apply"');
  }
  return problems;
}

/** The text as sent: placeholders filled, whitespace runs kept (the shop wrote them). */
export function renderKeywordReply(template: string, vars: { shopName: string; shopUrl: string }): string {
  return template.replace(PLACEHOLDER, (_m, name: string) => (name === 'shopName' ? vars.shopName : name === 'shopUrl' ? vars.shopUrl : '')).trim();
}
