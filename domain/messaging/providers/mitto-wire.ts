import type { OutboundMessage, SendResult, SmsEncoding } from './provider';

// Mitto SMS REST wire format, shared by the adapter and the simulator so the two
// cannot drift apart. Response codes are Mitto's documented `responseCode` values.

export const MITTO_MAX_BULK = 1000;
export const MITTO_API_KEY_HEADER = 'x-mitto-api-key';

export type MittoTextType = 'Auto' | 'GSM' | 'Unicode' | 'Binary';

export interface MittoMessage {
  from: string;
  to: string;
  text: string;
  type?: MittoTextType;
  reference?: string;
}

export interface MittoBulkRequest {
  messages: MittoMessage[];
}

export interface MittoMessageResult {
  id?: string;
  to?: string;
  from?: string;
  text?: string;
  responseCode: number;
  responseText: string;
  reference?: string;
}

export interface MittoBulkResponse {
  messages: MittoMessageResult[];
}

export const MittoCode = {
  ok: 0,
  internalError: 1,
  invalidType: 2,
  emptyMessage: 3,
  invalidText: 4,
  emptySender: 5,
  invalidSender: 6,
  emptyReceiver: 7,
  invalidReceiver: 8,
} as const;

const CODE_NAMES: Readonly<Record<number, string>> = {
  0: 'sms_sent',
  1: 'internal_error',
  2: 'invalid_type',
  3: 'empty_message',
  4: 'invalid_text',
  5: 'empty_sender',
  6: 'invalid_sender',
  7: 'empty_receiver',
  8: 'invalid_receiver',
};

const RESPONSE_TEXTS: Readonly<Record<number, string>> = {
  0: 'Success',
  1: 'Internal error',
  2: 'Invalid type',
  3: 'Empty message',
  4: 'Message text is invalid',
  5: 'Empty sender',
  6: 'Invalid sender',
  7: 'Empty receiver',
  8: 'Invalid receiver',
};

// Codes about the message itself: sending it again unchanged fails the same way.
// Code 1 (internal error) is the provider's problem and may succeed on retry.
const PERMANENT_CODES: ReadonlySet<number> = new Set([2, 3, 4, 5, 6, 7, 8]);

export function mittoCodeName(code: number): string {
  return CODE_NAMES[code] ?? `mitto_${code}`;
}

export function mittoResponseText(code: number): string {
  return RESPONSE_TEXTS[code] ?? 'Error';
}

export function isPermanentMittoCode(code: number): boolean {
  return PERMANENT_CODES.has(code);
}

export function mittoTypeFor(encoding: SmsEncoding): MittoTextType {
  return encoding === 'UCS-2' ? 'Unicode' : 'GSM';
}

/** Mitto wants E.164 digits without the '+'. */
export function e164ToMittoDigits(to: string): string {
  return to.charCodeAt(0) === 43 /* + */ ? to.slice(1) : to;
}

export function toMittoMessage(m: OutboundMessage): MittoMessage {
  return {
    from: m.from,
    to: e164ToMittoDigits(m.to),
    text: m.text,
    type: mittoTypeFor(m.encoding),
    reference: m.reference,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function unknownResults(messages: readonly OutboundMessage[], reason: string): SendResult[] {
  return messages.map((m) => ({ reference: m.reference, outcome: 'unknown', reason }));
}

export function rejectedResults(
  messages: readonly OutboundMessage[],
  code: string,
  permanent: boolean,
): SendResult[] {
  return messages.map((m) => ({ reference: m.reference, outcome: 'rejected', code, permanent }));
}

/** True when a body looks like a per-message Mitto result (used for non-200 single sends). */
export function hasResponseCode(body: unknown): boolean {
  return isRecord(body) && typeof body.responseCode === 'number';
}

export function mapMittoResult(reference: string, item: unknown): SendResult {
  // Anything we cannot read with certainty is `unknown`: the request did reach
  // the provider, so claiming `rejected` could lead to a second SMS.
  if (!isRecord(item) || typeof item.responseCode !== 'number') {
    return { reference, outcome: 'unknown', reason: 'unexpected_response_shape' };
  }
  if (typeof item.reference === 'string' && item.reference !== reference) {
    return { reference, outcome: 'unknown', reason: 'reference_mismatch' };
  }
  const code = item.responseCode;
  if (code === MittoCode.ok) {
    if (typeof item.id === 'string' && item.id.length > 0) {
      return { reference, outcome: 'accepted', providerMessageId: item.id };
    }
    return { reference, outcome: 'unknown', reason: 'accepted_without_id' };
  }
  return { reference, outcome: 'rejected', code: mittoCodeName(code), permanent: isPermanentMittoCode(code) };
}

export function mapMittoBulkResponse(messages: readonly OutboundMessage[], body: unknown): SendResult[] {
  const items = isRecord(body) ? body.messages : undefined;
  if (!Array.isArray(items) || items.length !== messages.length) {
    return unknownResults(messages, 'unexpected_response_shape');
  }
  const out: SendResult[] = new Array<SendResult>(messages.length);
  for (let i = 0; i < messages.length; i++) {
    out[i] = mapMittoResult((messages[i] as OutboundMessage).reference, items[i]);
  }
  return out;
}
