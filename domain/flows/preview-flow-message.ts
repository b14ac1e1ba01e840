import { z } from 'zod';
import type { DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';
import { DEV_TRACKED_LINKS, sampleShortLink } from '../links/link-code';
import { countSegments, type Encoding } from '../messaging/segments';
import { FLOW_PLACEHOLDERS, parseTemplate, renderTemplate, templateLinks, withFooter } from '../messaging/template';
import { discountCodeField, flowBodyInputSchema } from './flow-input';
import { shopDisplayName } from '../shops/shop-display-name';

export const previewFlowMessageSchema = z.strictObject({
  body: flowBodyInputSchema,
  // The step's rule: a code it would refuse (a space, an accent, an emoji: another encoding) counted a message that
  // can never be sent. An empty field is no code yet (the editor sends it as typed).
  discountCode: z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? null : v), discountCodeField.nullable().optional()),
});
export type PreviewFlowMessageInput = z.infer<typeof previewFlowMessageSchema>;

export interface FlowMessagePreview {
  text: string;
  encoding: Encoding;
  characters: number;
  segments: number;
  /** The links written in the body, in order: each is sent as the message's own short link of `shortLinkLength` characters (shown as one in `text`). */
  links: string[];
  shortLinkLength: number;
}

/**
 * A checkout recovery URL as Shopify writes them (shop host, shop id, token,
 * key): the real one is read at send time, so the count uses one of the same
 * shape and about the same length.
 */
function sampleCheckoutUrl(domain: string): string {
  return `https://${domain}/72045248601/checkouts/ac/${'x'.repeat(32)}/recover?key=${'x'.repeat(32)}`;
}

/**
 * A send step's text as a contact without a name would get it — every
 * fallback, the shop's name, the step's discount code, a checkout link of the
 * usual length, its links as short links of their fixed length (`linkBase`:
 * PUBLIC_LINK_BASE) and the shop's opt-out footer — with its characters, encoding
 * and segments (segments.ts, the count the send path bills). Reads only: the
 * editor's live counter, before anything is saved.
 */
export async function previewFlowMessage(db: DbOrTx, shopId: string, input: PreviewFlowMessageInput, linkBase: string = DEV_TRACKED_LINKS.base): Promise<FlowMessagePreview> {
  const [shop] = await db.$queryRaw<{ domain: string; shop_name: string | null; opt_out_footer: boolean }[]>`
    SELECT domain, name AS shop_name, opt_out_footer FROM shops WHERE id = ${shopId}::uuid`;
  if (!shop) throw notFound('Shop');
  const parsed = parseTemplate(input.body, FLOW_PLACEHOLDERS);
  // The schema parsed it already; this keeps the types honest.
  if (!parsed.ok) throw new Error('preview of an unparsable body');
  const vars = {
    firstName: null,
    lastName: null,
    shopName: shopDisplayName(shop.shop_name, shop.domain),
    checkoutUrl: sampleCheckoutUrl(shop.domain),
    discountCode: input.discountCode ?? null,
  };
  const sample = sampleShortLink(linkBase);
  const text = withFooter(renderTemplate(parsed.template, vars, () => sample), shop.opt_out_footer);
  const counted = countSegments(text);
  return { text, encoding: counted.encoding, characters: counted.characters, segments: counted.segments, links: templateLinks(parsed.template), shortLinkLength: sample.length };
}
