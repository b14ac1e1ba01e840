// Who fetched a short link. Link previews (iMessage, WhatsApp, Facebook,
// Slack, Twitter/X, Telegram, Discord, LinkedIn…), crawlers, prefetches and
// HEAD requests are redirected like anyone, but recorded as bots and never
// counted as clicks. Apple's iMessage preview fetch announces itself as
// "facebookexternalhit/1.1 Facebot Twitterbot/1.0"; browsers mark prefetches
// with `Sec-Purpose`/`Purpose: prefetch` (or `X-Purpose: preview`, `X-Moz:
// prefetch`). Android's default SMS app, Google Messages, has Google fetch
// every link in a received text for its preview, as "GoogleMessages": a
// click by every Android recipient the moment the text arrives, were it not
// listed here. A client that sends no user agent at all is no phone's browser,
// nor is an HTTP library (fetch in Node, curl, okhttp, Guzzle…): crawlers.
// In-app browsers (Instagram, LINE, Snapchat, Pinterest…) are people.

export type UaClass = 'ios' | 'android' | 'desktop' | 'other' | 'preview' | 'crawler' | 'prefetch' | 'head' | 'no_agent';

export interface Fetcher {
  uaClass: UaClass;
  bot: boolean;
}

const PREVIEW =
  /facebookexternalhit|facebot|twitterbot|googlemessages|whatsapp|slackbot|slack-imgproxy|telegrambot|discordbot|linkedinbot|skypeuripreview|redditbot|embedly|iframely|vkshare|kakaotalk-scrap|bitlybot|google-pagerenderer|applebot|bingpreview|microsoft preview|yahoo! slurp|duckduckbot|ia_archiver/i;
// "bot" ending a word is a crawler (PetalBot;, SemrushBot;), but not in "Cubot": a phone brand its
// models carry in the agent ("CUBOT P30"), whose owners' clicks are people's.
const CRAWLER =
  /(?<!cu)bot\b|bot\/|crawler|spider|crawl|slurp|headlesschrome|phantomjs|python-requests|python-urllib|aiohttp|httpx|go-http-client|okhttp|java\/|libwww|curl\/|wget\/|node-fetch|axios\/|undici|postman|insomnia|scrapy|feedfetcher|mediapartners|lighthouse|preview|scanner|monitor|checker|validator|fetcher/i;

// HTTP libraries and runtimes by their default user agents: scripts, link
// checkers and servers, never a person in a browser (a browser, in-app ones
// included, always starts with "Mozilla/5.0"). Node's fetch sends just
// "node"; Ruby's Net::HTTP just "Ruby"; got "got (https://…)"; Dart
// "Dart/3.2 (dart:io)"; Android's and Apple's system HTTP stacks "Dalvik/…"
// and "…CFNetwork/… Darwin/…". The bare names are anchored at the start, so
// a word inside a browser's agent never matches.
const HTTP_CLIENT =
  /^(?:node|ruby|got)\b|\b(?:deno|bun|dart|httpie|reqwest|dalvik|cfnetwork|typhoeus|hackney|restsharp)\/|dart:io|guzzlehttp|faraday\b|http-?client|rest-client|http\.rb|mechanize|wordpress\//i;

type HeaderValue = string | string[] | undefined;
const first = (v: HeaderValue): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));

export function classifyFetcher(method: string, headers: Record<string, HeaderValue>): Fetcher {
  if (method === 'HEAD') return { uaClass: 'head', bot: true };
  const purpose = `${first(headers['sec-purpose'])} ${first(headers.purpose)} ${first(headers['x-purpose'])} ${first(headers['x-moz'])}`.toLowerCase();
  if (purpose.includes('prefetch') || purpose.includes('preview') || purpose.includes('prerender')) return { uaClass: 'prefetch', bot: true };
  const ua = first(headers['user-agent']);
  if (ua.trim() === '') return { uaClass: 'no_agent', bot: true };
  if (PREVIEW.test(ua)) return { uaClass: 'preview', bot: true };
  if (CRAWLER.test(ua) || HTTP_CLIENT.test(ua)) return { uaClass: 'crawler', bot: true };
  if (/iphone|ipad|ipod/i.test(ua)) return { uaClass: 'ios', bot: false };
  if (/android/i.test(ua)) return { uaClass: 'android', bot: false };
  if (/windows nt|macintosh|x11|cros|linux/i.test(ua)) return { uaClass: 'desktop', bot: false };
  return { uaClass: 'other', bot: false };
}
