import { countSegments, type Encoding } from '../messaging/segments';
import { FLOW_PLACEHOLDERS, parseTemplate, renderTemplate, templateLinks, withFooter, type LinkRenderer, type ParseResult } from '../messaging/template';
import type { SendStep } from './flow-input';

export type RenderedFlowMessage =
  /** `links`: the tracked links in it (each rendered by the caller's LinkRenderer). */
  | { ok: true; text: string; segments: number; encoding: Encoding; links: number }
  /** Nothing worth sending: a checkout reminder whose checkout link is gone (erased, never stored), an empty text, or one too long. */
  | { ok: false; reason: 'no_checkout_url' | 'empty_message' | 'too_long' };

/** The longest text a flow message may have once its placeholders are filled (flow_messages_body_check). */
export const MAX_FLOW_MESSAGE_CHARS = 4_000;

export interface FlowMessageVars {
  firstName: string | null;
  lastName: string | null;
  shopName: string;
  /** The run's checkout recovery URL (shopify_checkouts, read at send time); null when there is none. */
  checkoutUrl: string | null;
}

const USES_CHECKOUT_URL = /\{\{\s*checkoutUrl\s*(\||\}\})/;

interface ParsedStep {
  parsed: ParseResult;
  usesCheckoutUrl: boolean;
  links: number;
}

/**
 * A step's body parsed once per step object: a claim's runs of one version
 * share their parsed steps (execute-flow-steps.ts), so its 1 000 messages
 * parse the body once, not 1 000 times (parse and link scan were ~0.5 s of
 * worker CPU in a profiled flows bench). Pure: the same body gives the same parse.
 */
const parsedSteps = new WeakMap<SendStep, ParsedStep>();

export function parsedStep(step: SendStep): ParsedStep {
  let p = parsedSteps.get(step);
  if (!p) {
    const parsed = parseTemplate(step.body, FLOW_PLACEHOLDERS);
    p = { parsed, usesCheckoutUrl: USES_CHECKOUT_URL.test(step.body), links: parsed.ok ? templateLinks(parsed.template).length : 0 };
    parsedSteps.set(step, p);
  }
  return p;
}

/**
 * A send step's text for one contact: the campaign template with the flow
 * placeholders, and the shop's opt-out footer. The body's links (every URL
 * written in it, as for campaigns: templateLinks) are rendered by `link`: the
 * send path gives the message's own short links, all of one fixed length, so
 * it renders with a sample of that length first to count segments, then with
 * the real codes once the message has its id (docs/flows.md "Links and
 * clicks"). Without `link` they go out as written. `{{checkoutUrl}}` is a
 * placeholder, not a written link: it goes out as Shopify made it. Pure.
 */
export function renderFlowMessage(step: SendStep, vars: FlowMessageVars, optOutFooter: boolean, link?: LinkRenderer): RenderedFlowMessage {
  const { parsed, usesCheckoutUrl, links } = parsedStep(step);
  // Validated when the version was written; a body that no longer parses has nothing to send.
  if (!parsed.ok) return { ok: false, reason: 'empty_message' };
  if (usesCheckoutUrl && !vars.checkoutUrl) return { ok: false, reason: 'no_checkout_url' };
  const text = withFooter(renderTemplate(parsed.template, { ...vars, discountCode: step.discountCode ?? null }, link), optOutFooter);
  const count = countSegments(text);
  if (count.segments === 0) return { ok: false, reason: 'empty_message' };
  // Names and a checkout link can take a 1 600-character body far past what an SMS should be.
  if (text.length > MAX_FLOW_MESSAGE_CHARS || count.segments > 255) return { ok: false, reason: 'too_long' };
  return { ok: true, text, segments: count.segments, encoding: count.encoding, links };
}
