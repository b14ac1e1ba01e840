import { z } from 'zod';
import type { DbOrTx } from '../../lib/db';
import { inTransaction } from '../consent/consent-source';
import { UNGUARDED, type IdempotencyGuard } from '../idempotency/guard';
import { notFound } from '../../lib/errors';
import type { InboundKeyword } from '../compliance/inbound-keyword';
import { DEFAULT_KEYWORD_REPLIES, KEYWORD_REPLY_MAX_LENGTH, keywordReplyProblems } from '../compliance/keyword-reply-texts';

const KEYS = { stop: 'STOP', start: 'START', help: 'HELP' } as const satisfies Record<string, InboundKeyword>;
type Key = keyof typeof KEYS;

// Each text: a string the carriers' rules accept (keyword-reply-texts.ts), or null for the default.
const replyText = (key: Key) =>
  z
    .string()
    .max(KEYWORD_REPLY_MAX_LENGTH * 4)
    .nullable()
    .superRefine((text, ctx) => {
      if (text === null) return;
      for (const message of keywordReplyProblems(KEYS[key], text)) ctx.addIssue({ code: 'custom', message });
    })
    .optional();

export const keywordReplySettingsPatchSchema = z.strictObject({ stop: replyText('stop'), start: replyText('start'), help: replyText('help') });
export type KeywordReplySettingsPatch = z.output<typeof keywordReplySettingsPatchSchema>;

export interface KeywordReplySettingsView {
  stop: { text: string; custom: boolean };
  start: { text: string; custom: boolean };
  help: { text: string; custom: boolean };
  /** Replies sent for the shop and their segments: never charged to credits (docs/credits.md). */
  sent: number;
  segments: number;
}

interface Row {
  keyword_reply_stop: string | null;
  keyword_reply_start: string | null;
  keyword_reply_help: string | null;
  keyword_replies_sent: number;
  keyword_reply_segments: number;
}

function toView(r: Row): KeywordReplySettingsView {
  const text = (custom: string | null, k: InboundKeyword) => ({ text: custom ?? DEFAULT_KEYWORD_REPLIES[k], custom: custom !== null });
  return {
    stop: text(r.keyword_reply_stop, 'STOP'),
    start: text(r.keyword_reply_start, 'START'),
    help: text(r.keyword_reply_help, 'HELP'),
    sent: r.keyword_replies_sent,
    segments: r.keyword_reply_segments,
  };
}

/** GET /api/shop/keyword-replies: the texts in force (the shop's or the default) and the replies sent. */
export async function getKeywordReplySettings(db: DbOrTx, shopId: string): Promise<KeywordReplySettingsView> {
  const [row] = await db.$queryRaw<Row[]>`
    SELECT keyword_reply_stop, keyword_reply_start, keyword_reply_help, keyword_replies_sent, keyword_reply_segments FROM shops WHERE id = ${shopId}::uuid`;
  if (!row) throw notFound('Shop');
  return toView(row);
}

/**
 * PATCH /api/shop/keyword-replies: a given text replaces the shop's (null:
 * back to the default), an omitted one stays. Validated by the schema, so a
 * text missing what carriers require is a 400 that writes nothing. A
 * replayed PATCH sets the same texts again (harmless); a keyed one writes
 * only while it holds its key, so one that stalled past its lease cannot
 * land after a later change.
 */
export async function updateKeywordReplySettings(db: DbOrTx, shopId: string, patch: KeywordReplySettingsPatch, guard: IdempotencyGuard = UNGUARDED): Promise<KeywordReplySettingsView> {
  const set = (k: Key) => patch[k] !== undefined;
  const [row] = await inTransaction(db, async (tx) => {
    await guard.assertHeld(tx);
    return tx.$queryRaw<Row[]>`
    UPDATE shops SET
      keyword_reply_stop = CASE WHEN ${set('stop')} THEN ${patch.stop ?? null}::text ELSE keyword_reply_stop END,
      keyword_reply_start = CASE WHEN ${set('start')} THEN ${patch.start ?? null}::text ELSE keyword_reply_start END,
      keyword_reply_help = CASE WHEN ${set('help')} THEN ${patch.help ?? null}::text ELSE keyword_reply_help END,
      updated_at = now()
    WHERE id = ${shopId}::uuid
    RETURNING keyword_reply_stop, keyword_reply_start, keyword_reply_help, keyword_replies_sent, keyword_reply_segments`;
  });
  if (!row) throw notFound('Shop');
  return toView(row);
}
