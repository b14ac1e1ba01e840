import { createHmac, timingSafeEqual } from 'node:crypto';
import { hmacKey } from '../../lib/hmac-key';

// A short-link code names (campaign, recipient, link) and proves we made it:
//
//   campaign link_no (5) | recipient id (7) | link index (1) | tag (6)   = 19 base62 characters
//
// The tag is HMAC-SHA256(LINK_SIGNING_KEY, "<link_no>:<recipient id>:<index>")
// cut to 6 base62 characters (~35.7 bits), so a code cannot be guessed or
// altered (another recipient, another link) without the key, and a redirect
// resolves it with no per-recipient row and no read at all: the campaign's
// links are cached by link_no. Deterministic: a re-send renders the same code.
// Fixed length, so every message's length (hence segments, the preview and the
// credit reservation) is known before any recipient exists.
//
// A flow message's code has the same layout and length: the number is its
// flow version's `link_no` (drawn from the campaigns' sequence, so a number
// names a campaign or a flow version, never both) and the recipient part is
// `flow message id × FLOW_STEP_SLOTS + step`, so the redirect finds the step's
// links (cached by link_no, like a campaign's) with no read either.

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

const CAMPAIGN_WIDTH = 5;
const RECIPIENT_WIDTH = 7;
const INDEX_WIDTH = 1;
const TAG_WIDTH = 6;
export const CODE_LENGTH = CAMPAIGN_WIDTH + RECIPIENT_WIDTH + INDEX_WIDTH + TAG_WIDTH;
/** Links per message: one base62 character of index. */
export const MAX_LINK_INDEX = 61;
const MAX_CAMPAIGN = 62 ** CAMPAIGN_WIDTH - 1;
const MAX_RECIPIENT = 62 ** RECIPIENT_WIDTH - 1;
const TAG_MODULUS = BigInt(62 ** TAG_WIDTH);

/** Only the characters a code may hold, of its exact length. */
export const LINK_CODE_PATTERN = new RegExp(`^[0-9A-Za-z]{${CODE_LENGTH}}$`);

function encode(n: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

function decode(s: string, from: number, width: number): number {
  let n = 0;
  for (let i = from; i < from + width; i++) {
    const v = VALUE[s.charCodeAt(i)] ?? -1;
    if (v < 0) return -1;
    n = n * 62 + v;
  }
  return n;
}

function tag(key: string, linkNo: number, recipientId: number, index: number): string {
  const mac = createHmac('sha256', hmacKey(key)).update(`${linkNo}:${recipientId}:${index}`).digest();
  return encode(Number(mac.readBigUInt64BE(0) % TAG_MODULUS), TAG_WIDTH);
}

/**
 * The code of one recipient's link. Throws past the widths (916 M campaigns,
 * 3.5 T recipient rows): far beyond any bigserial this database will reach,
 * and a code that silently wrapped would redirect someone else's click.
 */
export function linkCode(key: string, linkNo: number, recipientId: number, index: number): string {
  if (!Number.isSafeInteger(linkNo) || linkNo < 1 || linkNo > MAX_CAMPAIGN) throw new RangeError(`campaign link number out of range: ${linkNo}`);
  if (!Number.isSafeInteger(recipientId) || recipientId < 1 || recipientId > MAX_RECIPIENT) throw new RangeError(`recipient id out of range: ${recipientId}`);
  if (!Number.isInteger(index) || index < 0 || index > MAX_LINK_INDEX) throw new RangeError(`link index out of range: ${index}`);
  return encode(linkNo, CAMPAIGN_WIDTH) + encode(recipientId, RECIPIENT_WIDTH) + encode(index, INDEX_WIDTH) + tag(key, linkNo, recipientId, index);
}

/** Steps a flow version may have, with room to spare (flow_messages_step_check: 0..19); never changes, codes already sent depend on it. */
export const FLOW_STEP_SLOTS = 32;

/** The recipient part of a flow message's codes. */
export function flowRecipientPart(messageId: number, step: number): number {
  if (!Number.isInteger(step) || step < 0 || step >= FLOW_STEP_SLOTS) throw new RangeError(`flow step out of range: ${step}`);
  return messageId * FLOW_STEP_SLOTS + step;
}

/** The flow message and step a flow code's recipient part names. */
export function flowMessageOfRecipient(recipientId: number): { messageId: number; step: number } {
  return { messageId: Math.floor(recipientId / FLOW_STEP_SLOTS), step: recipientId % FLOW_STEP_SLOTS };
}

export interface LinkTarget {
  linkNo: number;
  recipientId: number;
  index: number;
}

/**
 * What a code names, or null when it is not one of ours (wrong shape or
 * wrong tag). The same work for every well-formed code: one HMAC and a
 * constant-time comparison.
 */
export function parseLinkCode(key: string, code: string): LinkTarget | null {
  if (!LINK_CODE_PATTERN.test(code)) return null;
  const linkNo = decode(code, 0, CAMPAIGN_WIDTH);
  const recipientId = decode(code, CAMPAIGN_WIDTH, RECIPIENT_WIDTH);
  const index = decode(code, CAMPAIGN_WIDTH + RECIPIENT_WIDTH, INDEX_WIDTH);
  const expected = tag(key, linkNo, recipientId, index);
  const given = code.slice(CODE_LENGTH - TAG_WIDTH);
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(given))) return null;
  if (linkNo < 1 || recipientId < 1) return null;
  return { linkNo, recipientId, index };
}

/** Where short links point and how their codes are signed (from the config: trackedLinksOf). */
export interface TrackedLinks {
  /** `PUBLIC_LINK_BASE` (else `PUBLIC_BASE_URL`), without a trailing slash. */
  base: string;
  signingKey: string;
}

export function trackedLinksOf(config: { PUBLIC_LINK_BASE?: string | undefined; PUBLIC_BASE_URL: string; LINK_SIGNING_KEY: string }): TrackedLinks {
  return { base: (config.PUBLIC_LINK_BASE ?? config.PUBLIC_BASE_URL).replace(/\/+$/, ''), signingKey: config.LINK_SIGNING_KEY };
}

/** The development settings (lib/config.ts defaults), for callers that pass none: tests and tools. */
export const DEV_TRACKED_LINKS: TrackedLinks = { base: 'http://127.0.0.1:3000', signingKey: 'dev-link-signing-key-not-secret' };

/**
 * A short link of exactly the length (and encoding) every real one has: what
 * previews show and estimates count. Codes are base62, so swapping one for
 * another changes neither the septets nor the UTF-16 units of a message.
 */
export function sampleShortLink(base: string): string {
  return `${base}/${'x'.repeat(CODE_LENGTH)}`;
}

export function shortLink(links: TrackedLinks, linkNo: number, recipientId: number, index: number): string {
  return `${links.base}/${linkCode(links.signingKey, linkNo, recipientId, index)}`;
}

/** A flow message's link `index` of its step: the version's link number, the message id and its step in the code (deterministic: a re-send renders the same one). */
export function flowShortLink(links: TrackedLinks, linkNo: number, messageId: number, step: number, index: number): string {
  return shortLink(links, linkNo, flowRecipientPart(messageId, step), index);
}

type LinkConfig = Parameters<typeof trackedLinksOf>[0];

/** The short-link settings of a caller's deps: its config's, else the development ones. */
export function trackedLinksOfDeps(deps: { config?: LinkConfig }): TrackedLinks {
  return deps.config ? trackedLinksOf(deps.config) : DEV_TRACKED_LINKS;
}
