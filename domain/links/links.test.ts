import { withUtm } from './destination';
import { CODE_LENGTH, FLOW_STEP_SLOTS, LINK_CODE_PATTERN, flowMessageOfRecipient, flowRecipientPart, flowShortLink, linkCode, parseLinkCode, sampleShortLink, trackedLinksOf } from './link-code';
import { classifyFetcher } from './user-agent-class';
import { parseTemplate, renderPieces, renderTemplate, templateLinks, upperBoundSegmentsFor, withFooter, MAX_LINKS } from '../messaging/template';
import { countSegments } from '../messaging/segments';

const KEY = 'dev-link-signing-key-not-secret';

describe('link codes', () => {
  it('are 19 base62 characters, deterministic, and name what they were made for', () => {
    const code = linkCode(KEY, 42, 123_456_789, 3);
    expect(code).toHaveLength(CODE_LENGTH);
    expect(code).toMatch(LINK_CODE_PATTERN);
    expect(linkCode(KEY, 42, 123_456_789, 3)).toBe(code);
    expect(parseLinkCode(KEY, code)).toEqual({ linkNo: 42, recipientId: 123_456_789, index: 3 });
  });

  it('differ per recipient, per link and per key, and verify only under the key that made them', () => {
    const codes = new Set([linkCode(KEY, 1, 1, 0), linkCode(KEY, 1, 2, 0), linkCode(KEY, 1, 1, 1), linkCode(KEY, 2, 1, 0), linkCode('another-key-of-16+', 1, 1, 0)]);
    expect(codes.size).toBe(5);
    expect(parseLinkCode('another-key-of-16+', linkCode(KEY, 1, 1, 0))).toBeNull();
  });

  it('refuse any change of a character (another recipient, another link, a guessed tag)', () => {
    const code = linkCode(KEY, 7, 99, 0);
    for (let i = 0; i < code.length; i++) {
      const swapped = code.slice(0, i) + (code[i] === 'a' ? 'b' : 'a') + code.slice(i + 1);
      expect(parseLinkCode(KEY, swapped)).toBeNull();
    }
    expect(parseLinkCode(KEY, code.slice(1))).toBeNull();
    expect(parseLinkCode(KEY, `${code}x`)).toBeNull();
    expect(parseLinkCode(KEY, code.replace(/.$/, '-'))).toBeNull();
  });

  it("of a flow message name the version's number, the message and its step, at the campaigns' length", () => {
    const links = { base: 'https://l.example', signingKey: KEY };
    const short = flowShortLink(links, 42, 1_234_567, 19, 2);
    expect(short).toHaveLength(sampleShortLink(links.base).length);
    expect(flowShortLink(links, 42, 1_234_567, 19, 2)).toBe(short);
    const parsed = parseLinkCode(KEY, short.slice(links.base.length + 1));
    expect(parsed).toEqual({ linkNo: 42, recipientId: flowRecipientPart(1_234_567, 19), index: 2 });
    expect(flowMessageOfRecipient(parsed!.recipientId)).toEqual({ messageId: 1_234_567, step: 19 });
    // Another step of the same message is another code.
    expect(flowShortLink(links, 42, 1_234_567, 18, 2)).not.toBe(short);
    expect(() => flowRecipientPart(1, FLOW_STEP_SLOTS)).toThrow(RangeError);
    expect(() => flowRecipientPart(1, -1)).toThrow(RangeError);
  });

  it('refuse what they cannot encode rather than wrap', () => {
    expect(() => linkCode(KEY, 0, 1, 0)).toThrow(RangeError);
    expect(() => linkCode(KEY, 62 ** 5, 1, 0)).toThrow(RangeError);
    expect(() => linkCode(KEY, 1, 62 ** 7, 0)).toThrow(RangeError);
    expect(() => linkCode(KEY, 1, 1, 62)).toThrow(RangeError);
  });

  it('base is PUBLIC_LINK_BASE, else PUBLIC_BASE_URL, without a trailing slash', () => {
    expect(trackedLinksOf({ PUBLIC_BASE_URL: 'https://api.example.com/', LINK_SIGNING_KEY: KEY }).base).toBe('https://api.example.com');
    expect(trackedLinksOf({ PUBLIC_LINK_BASE: 'https://l.example.co', PUBLIC_BASE_URL: 'https://api.example.com', LINK_SIGNING_KEY: KEY }).base).toBe('https://l.example.co');
    expect(sampleShortLink('https://l.example.co')).toHaveLength('https://l.example.co/'.length + CODE_LENGTH);
  });
});

describe('links in templates', () => {
  const parse = (body: string) => {
    const r = parseTemplate(body);
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
    return r.template;
  };

  it.each([
    ['See https://shop.example.com/sale.', ['https://shop.example.com/sale']],
    ['(https://shop.example.com/a_(b)) now!', ['https://shop.example.com/a_(b)']],
    ['Go: https://x.example/p?a=1&b=2#frag, bye', ['https://x.example/p?a=1&b=2#frag']],
    ['{{link:https://x.example/a}} and http://y.example', ['https://x.example/a', 'http://y.example']],
    ['{{ link : https://x.example/a }}', ['https://x.example/a']],
    ['no links here, not even ftp://x.example or https://', []],
    ['https://a.example {{firstName}}', ['https://a.example']],
  ])('%s → %j', (body, links) => {
    expect(templateLinks(parse(body))).toEqual(links);
  });

  it('refuses a link placeholder without a URL, a non-http one and more than MAX_LINKS links', () => {
    expect(parseTemplate('{{link:}}').ok).toBe(false);
    expect(parseTemplate('{{link:ftp://x.example}}').ok).toBe(false);
    expect(parseTemplate('{{link:https://x.example/a b}}').ok).toBe(false);
    expect(parseTemplate('https://x.example/?name={{firstName}}').ok).toBe(false);
    expect(parseTemplate('https://x.example/.{{firstName}}').ok).toBe(true);
    expect(parseTemplate(Array.from({ length: MAX_LINKS + 1 }, (_, i) => `https://x.example/${i}`).join(' ')).ok).toBe(false);
    expect(parseTemplate(Array.from({ length: MAX_LINKS }, (_, i) => `https://x.example/${i}`).join(' ')).ok).toBe(true);
  });

  it('renders the URL itself without a link renderer, and pieces that put back together the same text', () => {
    const t = parse('  Hi {{firstName|there}} https://x.example/a then {{link:https://y.example}} ');
    expect(renderTemplate(t, { firstName: 'Ann' })).toBe('Hi Ann https://x.example/a then https://y.example');
    expect(renderTemplate(t, { firstName: 'Ann' }, (i) => `<${i}>`)).toBe('Hi Ann <0> then <1>');
    expect(renderPieces(t, { firstName: 'Ann' })).toEqual(['Hi Ann ', ' then ', '']);
  });

  it('bounds segments with the short link, exactly (every short link has the same length and alphabet)', () => {
    const body = `${'x'.repeat(100)} https://shop.example.com/a/very/long/path/that/would/cost/a/lot/more/than/a/short/link`;
    const t = parse(body);
    const short = sampleShortLink('https://l.example');
    const exact = countSegments(withFooter(renderTemplate(t, {}, () => short), true)).segments;
    expect(upperBoundSegmentsFor(t, {}, false, true, short)).toBe(exact);
    expect(upperBoundSegmentsFor(t, {}, false, true)).toBeGreaterThan(exact);
  });
});

describe('destination with UTM parameters', () => {
  const utm = { medium: 'sms-marketing', campaign: 'c1' };
  it.each([
    ['https://x.example', 'https://x.example?utm_source=sms&utm_medium=sms-marketing&utm_campaign=c1'],
    ['https://x.example/p?a=1&b=%20x#top', 'https://x.example/p?a=1&b=%20x&utm_source=sms&utm_medium=sms-marketing&utm_campaign=c1#top'],
    ['https://x.example/p?', 'https://x.example/p?utm_source=sms&utm_medium=sms-marketing&utm_campaign=c1'],
    ['https://x.example/p?utm_campaign=bf&x=1', 'https://x.example/p?utm_campaign=bf&x=1&utm_source=sms&utm_medium=sms-marketing'],
    ['https://x.example/#/route?q=1', 'https://x.example/?utm_source=sms&utm_medium=sms-marketing&utm_campaign=c1#/route?q=1'],
    ['https://bücher.example/€?q=é#ß', 'https://xn--bcher-kva.example/%E2%82%AC?q=%C3%A9&utm_source=sms&utm_medium=sms-marketing&utm_campaign=c1#%C3%9F'],
    ['https://x.example/\u0001a\u007f?q=\u0002x', 'https://x.example/%01a%7F?q=%02x&utm_source=sms&utm_medium=sms-marketing&utm_campaign=c1'],
  ])('%s', (url, expected) => {
    expect(withUtm(url, utm)).toBe(expected);
  });
});

describe('who fetched a link', () => {
  it.each([
    ['GET', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1', 'ios', false],
    ['GET', 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36', 'android', false],
    ['GET', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36', 'desktop', false],
    ['GET', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Instagram 300.0', 'ios', false],
    ['GET', 'facebookexternalhit/1.1 Facebot Twitterbot/1.0', 'preview', true],
    ['GET', 'WhatsApp/2.23.20.0 A', 'preview', true],
    ['GET', 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)', 'preview', true],
    ['GET', 'TelegramBot (like TwitterBot)', 'preview', true],
    ['GET', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'crawler', true],
    ['GET', 'curl/8.4.0', 'crawler', true],
    ['GET', '', 'no_agent', true],
    ['HEAD', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)', 'head', true],
  ] as const)('%s %s → %s', (method, ua, uaClass, bot) => {
    expect(classifyFetcher(method, { 'user-agent': ua })).toEqual({ uaClass, bot });
  });

  // HTTP libraries and runtimes with their default user agents: scripts, never people (docs/api.md, "Clicks").
  it.each([
    'node',
    'node/20.11.1',
    'Deno/1.40.2',
    'Bun/1.0.25',
    'Dart/3.2 (dart:io)',
    'GuzzleHttp/7',
    'HTTPie/3.2.2',
    'okhttp/4.12.0',
    'reqwest/0.11.24',
    'Faraday v2.9.0',
    'Ruby',
    'got (https://github.com/sindresorhus/got)',
    'got/11.8.6',
    'rest-client/2.1.0 (linux-gnu x86_64) ruby/3.2.2p53',
    'http.rb/5.1.1',
    'Typhoeus/1.4.1',
    'hackney/1.20.1',
    'RestSharp/110.2.0.0',
    'Apache-HttpClient/4.5.14 (Java/17.0.9)',
    'Java-http-client/17.0.9',
    'Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A.240105.004)',
    'Shop/2.0 CFNetwork/1410.0.3 Darwin/22.6.0',
    'python-requests/2.31.0',
    'Go-http-client/2.0',
    'undici',
    'axios/1.6.7',
    'Wget/1.21.4',
    // Crawlers whose name ends in "bot" without a version after it stay crawlers.
    'Mozilla/5.0 (compatible;PetalBot;+https://webmaster.petalsearch.com/site/petalbot)',
    'Mozilla/5.0 (compatible; SemrushBot; +http://www.semrush.com/bot.html)',
  ])('%s is a crawler', (ua) => {
    expect(classifyFetcher('GET', { 'user-agent': ua })).toEqual({ uaClass: 'crawler', bot: true });
  });

  // Browsers and in-app browsers stay people, whatever words their agents carry.
  it.each([
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.2;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/0]', 'ios'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UQ1A.240105.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/448.0.0.40.109;]', 'android'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UQ1A.240105.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 Instagram 312.0.0.32.112 Android (34/14; 420dpi; 1080x2400; Google/google; Pixel 8; shiba; shiba; en_US; 547366411)', 'android'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/13.20.0', 'ios'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Snapchat/12.70.0.39 (like Safari/8617.1.17.10.9, panda)', 'ios'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [Pinterest/iOS]', 'ios'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1', 'ios'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15', 'ios'],
    ['Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36', 'android'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 EdgA/120.0.2210.115', 'android'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15', 'desktop'],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', 'desktop'],
    // Cubot phones name their brand in the model ("CUBOT P30"): a word ending in "bot", yet a person.
    ['Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/76.0.3809.111 Mobile Safari/537.36', 'android'],
    ['Mozilla/5.0 (Linux; Android 12; CUBOT KINGKONG 7 Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36', 'android'],
    ['Mozilla/5.0 (Linux; Android 11; Cubot Note 20) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.45 Mobile Safari/537.36', 'android'],
  ] as const)('%s → %s', (ua, uaClass) => {
    expect(classifyFetcher('GET', { 'user-agent': ua })).toEqual({ uaClass, bot: false });
  });

  it('counts a browser prefetch as a bot (Safari/Chrome mark it)', () => {
    const ua = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)';
    expect(classifyFetcher('GET', { 'user-agent': ua, purpose: 'prefetch' })).toEqual({ uaClass: 'prefetch', bot: true });
    expect(classifyFetcher('GET', { 'user-agent': ua, 'sec-purpose': 'prefetch;prerender' })).toEqual({ uaClass: 'prefetch', bot: true });
    expect(classifyFetcher('GET', { 'user-agent': ua, 'x-purpose': 'preview' })).toEqual({ uaClass: 'prefetch', bot: true });
  });
});
