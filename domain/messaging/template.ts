// Campaign body templates: `Hi {{ firstName | there }}, news from {{shopName}}`.
//
// Parsed once per campaign, rendered once per recipient, so the parsed form is
// a flat list of parts and rendering is a plain concatenation.
//
// Links: every http(s) URL written in the body, and every `{{link:<url>}}`,
// is a tracked link, sent as the recipient's own short link (domain/links).
// A URL in the text runs to the first whitespace, `{{`, `<`, `>` or `"`,
// without trailing punctuation (`.,;:!?'` and an unbalanced `)` or `]`).

import { Encoding, countSegments, isGsm7, upperBoundSegments } from './segments';
import { unstorableIndex } from '../../lib/storable-text';

export const PLACEHOLDERS = ['firstName', 'lastName', 'shopName'] as const;
/** A flow's send step also knows the run's checkout link and the step's discount code (docs/flows.md). */
export const FLOW_PLACEHOLDERS = [...PLACEHOLDERS, 'checkoutUrl', 'discountCode'] as const;
export type Placeholder = (typeof FLOW_PLACEHOLDERS)[number];

export type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'placeholder'; readonly name: Placeholder; readonly fallback: string | null }
  /** A tracked link: `index` is its position among the body's links (0-based), part of its short code. */
  | { readonly kind: 'link'; readonly url: string; readonly index: number };

/** Tracked links per body: each is a segment-costly short link, and ten is already a lot for an SMS. */
export const MAX_LINKS = 10;
export const MAX_LINK_URL_LENGTH = 2048;

export interface ParsedTemplate {
  readonly parts: readonly TemplatePart[];
}

export interface TemplateError {
  message: string;
  /** Offset in the body of the offending `{{`. */
  index: number;
}

export type ParseResult = { ok: true; template: ParsedTemplate } | { ok: false; errors: TemplateError[] };

export type TemplateVars = Partial<Record<Placeholder, string | null | undefined>>;

const OPEN = '{{';
const CLOSE = '}}';
// Name, then an optional `|fallback`; the fallback is literal text and may not
// contain `}` (it would be ambiguous with the closing braces) or a second `|`.
const PLACEHOLDER_BODY = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^|}]*))?$/;

function isPlaceholder(name: string, allowed: readonly Placeholder[]): name is Placeholder {
  return (allowed as readonly string[]).includes(name);
}

/** `allowed`: the placeholders the body may use (a campaign's by default; FLOW_PLACEHOLDERS for a flow step). */
export function parseTemplate(body: string, allowed: readonly Placeholder[] = PLACEHOLDERS): ParseResult {
  const parts: TemplatePart[] = [];
  const errors: TemplateError[] = [];
  let text = '';
  let pos = 0;
  let links = 0;
  const pushText = (t: string): void => {
    for (const piece of splitLinks(t)) {
      if (typeof piece === 'string') parts.push({ kind: 'text', text: piece });
      else parts.push({ kind: 'link', url: piece.url, index: links++ });
    }
  };

  while (pos < body.length) {
    let open = body.indexOf(OPEN, pos);
    if (open === -1) break;
    // In `{{{name}}}` the innermost `{{` opens the placeholder and the extra
    // braces are plain text, like any lone `{` or `}`.
    while (body[open + 2] === '{') open++;
    text += body.slice(pos, open);

    const close = body.indexOf(CLOSE, open + 2);
    const reopen = body.indexOf(OPEN, open + 2);
    if (close === -1 || (reopen !== -1 && reopen < close)) {
      errors.push({ message: `Unclosed '{{' at index ${open}: expected '}}'`, index: open });
      if (close === -1) break;
      pos = reopen; // resume at the next `{{` so its own errors are reported too
      continue;
    }

    const raw = body.slice(open, close + 2);
    const inner = body.slice(open + 2, close);
    const result = LINK_PLACEHOLDER.test(inner) ? parseLinkPlaceholder(inner) : parsePlaceholder(inner, allowed);
    if (typeof result === 'string') {
      errors.push({ message: `${result} in '${raw}' at index ${open}`, index: open });
    } else if (result.kind === 'placeholder' && endsWithUrl(text)) {
      // "https://shop.example/?name={{firstName}}" would send the short link
      // followed by the name: a tracked link is one fixed URL.
      errors.push({ message: `A link cannot contain a placeholder: '${raw}' right after a URL at index ${open}`, index: open });
    } else {
      if (text !== '') pushText(text);
      text = '';
      parts.push(result.kind === 'link' ? { ...result, index: links++ } : result);
    }
    pos = close + 2;
  }

  text += body.slice(pos);
  if (errors.length === 0 && text !== '') pushText(text);
  if (errors.length === 0 && links > MAX_LINKS) errors.push({ message: `At most ${MAX_LINKS} links per message (found ${links})`, index: 0 });
  // Postgres cannot store NUL, and a flow's steps (jsonb) cannot hold an unpaired
  // surrogate: refused here, with the other template errors, rather than failing the write.
  const bad = unstorableIndex(body);
  if (bad !== -1) {
    const what = body[bad] === '\u0000' ? 'a NUL character' : 'an unpaired UTF-16 surrogate';
    errors.push({ message: `A message cannot contain ${what} (index ${bad})`, index: bad });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, template: { parts } };
}

const LINK_PLACEHOLDER = /^\s*link\s*:/;
const URL_IN_TEXT = /https?:\/\/[^\s<>"{}]+/gi;

/** A URL we can track: http(s), a host, bounded. */
function trackableUrl(candidate: string): string | null {
  if (candidate.length > MAX_LINK_URL_LENGTH) return null;
  try {
    const u = new URL(candidate);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' ? candidate : null;
  } catch {
    return null;
  }
}

// Punctuation that ends a sentence rather than the URL ("see https://x.com/sale.").
function trimTrailing(url: string): string {
  let out = url;
  for (;;) {
    const last = out[out.length - 1];
    if (last === undefined) return out;
    if (".,;:!?'".includes(last)) out = out.slice(0, -1);
    else if (last === ')' && count(out, '(') < count(out, ')')) out = out.slice(0, -1);
    else if (last === ']' && count(out, '[') < count(out, ']')) out = out.slice(0, -1);
    else return out;
  }
}

const count = (s: string, ch: string): number => s.split(ch).length - 1;

/** Text split at the URLs it holds: strings stay text, objects become links. */
function splitLinks(text: string): (string | { url: string })[] {
  const out: (string | { url: string })[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_IN_TEXT)) {
    const url = trackableUrl(trimTrailing(m[0]));
    if (url === null) continue;
    const at = m.index;
    if (at > last) out.push(text.slice(last, at));
    out.push({ url });
    last = at + url.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function endsWithUrl(text: string): boolean {
  const last = splitLinks(text).at(-1);
  return last !== undefined && typeof last !== 'string';
}

function parseLinkPlaceholder(inner: string): TemplatePart | string {
  const url = inner.replace(LINK_PLACEHOLDER, '').trim();
  if (url === '') return 'Link placeholder without a URL';
  if (trackableUrl(url) === null || /\s/.test(url)) return `Not an http(s) URL of at most ${MAX_LINK_URL_LENGTH} characters`;
  return { kind: 'link', url, index: 0 };
}

// Returns the part, or a description of what is wrong with it.
function parsePlaceholder(inner: string, allowed: readonly Placeholder[]): TemplatePart | string {
  if (inner.trim() === '') return 'Empty placeholder';
  const match = PLACEHOLDER_BODY.exec(inner);
  if (!match) {
    if (/[|].*[|]/.test(inner)) return "Placeholder has more than one '|'";
    if (/[|].*[}]/.test(inner)) return "Fallback text may not contain '}'";
    return 'Malformed placeholder';
  }
  const name = match[1] ?? '';
  if (!isPlaceholder(name, allowed)) {
    const suggestion = allowed.find((p) => p.toLowerCase() === name.toLowerCase());
    const hint = suggestion ? `did you mean '{{${suggestion}}}'?` : `allowed: ${allowed.join(', ')}`;
    return `Unknown placeholder '${name}' (${hint})`;
  }
  // `{{ firstName | valued customer }}`: the spaces around the fallback are
  // layout, the ones inside it are content. An empty fallback means none.
  const fallback = match[2]?.trim() ?? '';
  return { kind: 'placeholder', name, fallback: fallback === '' ? null : fallback };
}

// Contact data is messy: blank, whitespace-only and null all mean "unknown".
function usableValue(value: string | null | undefined): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

/** What a link renders as: the recipient's short link; without one, the URL itself. */
export type LinkRenderer = (index: number, url: string) => string;

/**
 * Unknown values render as the fallback, or as nothing. No space collapsing:
 * "Hi {{firstName}}!" with no name gives "Hi !", which is predictable and
 * visible in previews. Only the ends of the result are trimmed.
 */
export function renderTemplate(t: ParsedTemplate, vars: TemplateVars, link?: LinkRenderer): string {
  const pieces = renderPieces(t, vars);
  let out = pieces[0] ?? '';
  const links = t.parts.filter((p): p is Extract<TemplatePart, { kind: 'link' }> => p.kind === 'link');
  for (let i = 1; i < pieces.length; i++) {
    const l = links[i - 1] as Extract<TemplatePart, { kind: 'link' }>;
    out += (link ? link(l.index, l.url) : l.url) + (pieces[i] ?? '');
  }
  return out;
}

/**
 * The rendered text cut at its links: links + 1 pieces, link i between
 * pieces i and i + 1, the ends trimmed as renderTemplate trims them (a link
 * is never blank, so trimming the pieces is trimming the text). A send
 * renders these once per distinct name and puts each recipient's links in.
 */
export function renderPieces(t: ParsedTemplate, vars: TemplateVars): string[] {
  const pieces: string[] = [];
  let out = '';
  for (const part of t.parts) {
    if (part.kind === 'text') out += part.text;
    else if (part.kind === 'link') {
      pieces.push(out);
      out = '';
    } else out += usableValue(vars[part.name]) ?? part.fallback ?? '';
  }
  pieces.push(out);
  pieces[0] = (pieces[0] as string).trimStart();
  pieces[pieces.length - 1] = (pieces[pieces.length - 1] as string).trimEnd();
  return pieces;
}

/** The body's links in order (index = position). */
export function templateLinks(t: ParsedTemplate): string[] {
  return t.parts.flatMap((p) => (p.kind === 'link' ? [p.url] : []));
}

/** Preview without a contact: every placeholder shows its fallback. */
export function renderWithFallbacks(t: ParsedTemplate): string {
  return renderTemplate(t, {});
}

export const OPT_OUT_FOOTER = 'Reply STOP to opt out';

// Deliberately narrow: a false positive here means a message goes out with no
// opt-out instruction (a compliance problem), whereas a false negative only
// adds a redundant footer. So a bare "stop to" ("don't stop to think") does
// not count; it must be followed by an opt-out verb.
const OPT_OUT_INSTRUCTION =
  /\b(?:reply|text|send)\s+["'“]?stop\b|\bstop["'”]?\s+to\s+(?:opt[\s-]*out|unsubscribe|end|cancel|quit|stop)\b/i;

export function hasOptOutInstruction(text: string): boolean {
  return OPT_OUT_INSTRUCTION.test(text);
}

export function withFooter(text: string, enabled: boolean): string {
  if (!enabled || hasOptOutInstruction(text)) return text;
  return text === '' ? OPT_OUT_FOOTER : `${text}\n${OPT_OUT_FOOTER}`;
}

/**
 * The pieces a caller needs to bound the rendered length without rendering,
 * e.g. in SQL from the longest value of each field in the audience.
 */
export function maxRenderedLengthParts(
  t: ParsedTemplate,
  shortLink?: string,
): {
  staticText: string;
  placeholders: { name: Placeholder; fallback: string | null }[];
} {
  let staticText = '';
  const placeholders: { name: Placeholder; fallback: string | null }[] = [];
  for (const part of t.parts) {
    if (part.kind === 'text') staticText += part.text;
    // Every short link has the same length and only GSM-7 characters: a fixed text.
    else if (part.kind === 'link') staticText += shortLink ?? part.url;
    else placeholders.push({ name: part.name, fallback: part.fallback });
  }
  return { staticText, placeholders };
}

const codePoints = (s: string): number => Array.from(s).length;

/**
 * Renders each placeholder as the longer (in characters) of the audience's
 * longest value and the fallback: no recipient's message has more characters.
 * It does NOT bound septets or UTF-16 units: another value of the same or
 * smaller character count may hold extension characters or emoji. For a
 * segment bound use upperBoundSegmentsFor.
 */
export function upperBoundText(t: ParsedTemplate, longest: Partial<Record<Placeholder, string>>, shortLink?: string): string {
  let out = '';
  for (const part of t.parts) {
    if (part.kind === 'text') {
      out += part.text;
      continue;
    }
    if (part.kind === 'link') {
      out += shortLink ?? part.url;
      continue;
    }
    const value = longest[part.name] ?? '';
    const fallback = part.fallback ?? '';
    out += codePoints(value) >= codePoints(fallback) ? value : fallback;
  }
  return out;
}

/**
 * A safe upper bound on the segments of
 * `withFooter(renderTemplate(t, vars), footerEnabled)` for any recipient.
 *
 * `longest[name]` is the audience's longest value of that field, either as the
 * string itself or as its length in code points (Postgres `char_length`).
 * `anyUnicode` must be true if any value of any field in the audience contains
 * a character outside GSM-7: one such value turns that recipient's whole
 * message into UCS-2, which is much shorter per segment.
 *
 * Why it is safe: a recipient's message is the static text, each placeholder
 * as either a (trimmed, hence no longer) value or its fallback, and possibly
 * the footer. Static text (links as `shortLink`, the length every short link
 * has), fallbacks and footer are costed exactly. A value of
 * n code points costs at most 2n in both encodings (an extension character is
 * 2 septets; an astral character is 2 UTF-16 units), and n <= the longest
 * length. Trimming only shortens. upperBoundSegments is monotonic in units and
 * already covers the pair-splitting waste.
 */
export function upperBoundSegmentsFor(
  t: ParsedTemplate,
  longest: Partial<Record<Placeholder, string | number>>,
  anyUnicode: boolean,
  footerEnabled: boolean,
  shortLink?: string,
): number {
  const { staticText, placeholders } = maxRenderedLengthParts(t, shortLink);
  const fixedText = footerEnabled ? `${staticText}\n${OPT_OUT_FOOTER}` : staticText;
  const fallbacksGsm = placeholders.every((p) => p.fallback === null || isGsm7(p.fallback));
  const fixedGsm = isGsm7(fixedText);

  const boundFor = (encoding: Encoding): number => {
    let units = unitsIn(encoding, fixedText);
    for (const p of placeholders) {
      const valueUnits = 2 * longestLength(p.name, longest[p.name]);
      units += Math.max(valueUnits, p.fallback === null ? 0 : unitsIn(encoding, p.fallback));
    }
    return upperBoundSegments(encoding, units);
  };

  // If the fixed text is not GSM, nobody's message is. Otherwise a recipient
  // may still be GSM-7 even when others are UCS-2, so take the worse of both.
  if (!fixedGsm) return boundFor('UCS-2');
  const gsm = boundFor('GSM-7');
  return anyUnicode || !fallbacksGsm ? Math.max(gsm, boundFor('UCS-2')) : gsm;
}

function longestLength(name: Placeholder, longest: string | number | undefined): number {
  if (typeof longest !== 'number') return codePoints(longest ?? '');
  // A NaN or negative length (e.g. SQL MAX over no rows) must not quietly
  // turn the bound into NaN or shrink it.
  if (!Number.isFinite(longest) || longest < 0) {
    throw new RangeError(`Invalid longest length for '${name}': ${longest}`);
  }
  return Math.ceil(longest);
}

// Exact units of a text if sent in `encoding`. Non-GSM characters are costed
// at 2 septets only to keep this total; such text never goes out as GSM-7.
function unitsIn(encoding: Encoding, text: string): number {
  if (encoding === 'UCS-2') return text.length;
  const r = countSegments(text);
  return r.encoding === 'GSM-7' ? r.units : 2 * r.characters;
}
