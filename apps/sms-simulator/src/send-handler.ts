import {
  MITTO_MAX_BULK,
  MittoCode,
  mittoResponseText,
} from '../../../domain/messaging/providers/mitto-wire';
import { countSegments, segmentsForUnits } from '../../../domain/messaging/segments';
import type { SendLedger } from './send-ledger';

// Turns a parsed /sms or /smsbulk body into the Mitto-shaped answer, recording
// every new send. Hot path: no per-message logging, no schema library, the bulk
// answer is built as a string.

/** A new send, named by its provider id's sequence number (SendLedger.providerId). */
export type OnNewSend = (seq: number, reference: string | undefined) => void;

type Message = Record<string, unknown>;

const DIGITS_8_TO_15 = /^\d{8,15}$/;
const TYPES: ReadonlySet<unknown> = new Set(['Auto', 'GSM', 'Unicode', 'Binary']);

function isMessage(v: unknown): v is Message {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns an error text when the request as a whole is malformed (→ 400), else the messages. */
export function readBulkMessages(body: unknown): Message[] | string {
  if (!isMessage(body) || !Array.isArray(body.messages)) return 'body must be {"messages": [...]}';
  const list: unknown[] = body.messages;
  if (list.length === 0) return 'messages must not be empty';
  if (list.length > MITTO_MAX_BULK) return `at most ${MITTO_MAX_BULK} messages per request`;
  for (const m of list) {
    if (!isMessage(m)) return 'every message must be an object';
    if (m.reference !== undefined && typeof m.reference !== 'string') return 'reference must be a string';
  }
  return list as Message[];
}

export function readSingleMessage(body: unknown): Message | string {
  if (!isMessage(body)) return 'body must be a JSON object';
  if (body.reference !== undefined && typeof body.reference !== 'string') return 'reference must be a string';
  return body;
}

export function referencesOf(messages: readonly Message[]): string[] {
  const refs: string[] = [];
  for (const m of messages) if (typeof m.reference === 'string') refs.push(m.reference);
  return refs;
}

function validate(m: Message): number {
  if (m.type !== undefined && !TYPES.has(m.type)) return MittoCode.invalidType;
  if (typeof m.text !== 'string' || m.text.length === 0) return MittoCode.emptyMessage;
  if (typeof m.from !== 'string' || m.from.length === 0) return MittoCode.emptySender;
  if (typeof m.to !== 'string' || m.to.length === 0) return MittoCode.emptyReceiver;
  if (!DIGITS_8_TO_15.test(m.to)) return MittoCode.invalidReceiver;
  return MittoCode.ok;
}

/** Segments as a carrier bills the message: Unicode forces UCS-2, anything else is counted from the text. */
export function segmentsOf(m: Message): number {
  const text = m.text as string;
  const c = countSegments(text);
  return m.type === 'Unicode' && c.encoding === 'GSM-7' ? segmentsForUnits('UCS-2', text.length) : c.segments;
}

// Segments are counted before the ledger knows whether the message is a
// suppressed repeat (rare), so that its lookup of the reference is the only one.
function send(m: Message, ledger: SendLedger, onNew: OnNewSend): string {
  return ledger.providerId(ledger.send(m.reference as string | undefined, segmentsOf(m), onNew));
}

const SUCCESS_TEXT = JSON.stringify(mittoResponseText(MittoCode.ok));

export function processBulk(messages: readonly Message[], ledger: SendLedger, onNew: OnNewSend): string {
  const parts: string[] = new Array<string>(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Message;
    const ref = typeof m.reference === 'string' ? `,"reference":${JSON.stringify(m.reference)}` : '';
    const code = validate(m);
    if (code === MittoCode.ok) {
      // `to` passed the digits check, so it needs no escaping.
      const id = send(m, ledger, onNew);
      parts[i] = `{"id":"${id}","to":"${m.to as string}","responseCode":0,"responseText":${SUCCESS_TEXT}${ref}}`;
    } else {
      const to = typeof m.to === 'string' ? `"to":${JSON.stringify(m.to)},` : '';
      parts[i] = `{${to}"responseCode":${code},"responseText":${JSON.stringify(mittoResponseText(code))}${ref}}`;
    }
  }
  return `{"messages":[${parts.join(',')}]}`;
}

export function processSingle(m: Message, ledger: SendLedger, onNew: OnNewSend): string {
  const code = validate(m);
  const reference = typeof m.reference === 'string' ? m.reference : undefined;
  if (code !== MittoCode.ok) {
    return JSON.stringify({
      to: typeof m.to === 'string' ? m.to : undefined,
      responseCode: code,
      responseText: mittoResponseText(code),
      reference,
    });
  }
  return JSON.stringify({
    id: send(m, ledger, onNew),
    to: m.to,
    from: m.from,
    text: m.text,
    responseCode: MittoCode.ok,
    responseText: mittoResponseText(MittoCode.ok),
    reference,
  });
}
