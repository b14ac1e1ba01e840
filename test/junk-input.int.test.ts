import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import type { Express } from 'express';
import { ERROR_STATUS } from '../lib/errors';
import { createTestEnv, type TestEnv } from './harness';
import { createShop, type ShopFixture } from './factories';
import { routeTable, type RouteEntry } from './route-table';
import { sessionToken } from './session-token';
import { tableFingerprints } from './table-fingerprints';

// Every /api route (read from the app, so later routes are covered too) gets
// generated junk with a valid session: invalid JSON, wrong content types,
// top-level non-objects, unknown fields, wrongly typed known fields, huge and
// control-character strings, deep nesting, junk query strings and path ids.
// Whatever it is: never a 5xx, a 4xx always in the documented error shape,
// and not one row written or changed anywhere (every table's rows digested).

const RUNS_PER_ROUTE = 30;
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/**
 * POSTs that only compute an answer: any text is a body they can preview, so
 * a junk string in a known field may be accepted (2xx). Such an answer writes
 * nothing but its Idempotency-Key row (every POST honours the header).
 */
const READS_BY_POST = new Set(['POST /api/flows/preview', 'POST /api/campaigns/:id/preview', 'POST /api/shop/quiet-hours/preview']);

/** Percent-encodes any string, lone surrogates included (encodeURIComponent throws on them). */
const pct = (s: string): string => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

const nastyChar = fc.constantFrom('\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u2028', '\ud800', 'a', 'Z', '0', ' ', '"', "'", '\\', '%', '_', '/', '{', '<', 'é', '😀');
const nasty = fc.string({ unit: nastyChar, maxLength: 40 });
/** Always has a NUL, which no text column can store. */
const withNul = nasty.map((s) => `${s}\u0000${s}`);
const huge = fc.integer({ min: 1, max: 6 }).map((n) => 'x'.repeat(n * 200_000));
const smallObject = fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.integer(), nasty), { minKeys: 1, maxKeys: 3 });

// Values that no sane schema accepts for a field of that name, whichever route has it.
const notAString = fc.oneof(fc.boolean(), smallObject, fc.array(fc.integer(), { minLength: 1, maxLength: 3 }), huge, withNul);
const notABoolean = fc.oneof(nasty, fc.integer(), smallObject);
const notAnArray = fc.oneof(nasty, fc.integer(), smallObject, fc.boolean());
const notAnObject = fc.oneof(nasty, fc.integer(), fc.array(fc.integer(), { maxLength: 3 }), fc.boolean());
const KNOWN_FIELDS: Record<string, fc.Arbitrary<unknown>> = {
  phone: notAString, email: notAString, firstName: notAString, lastName: notAString, country: notAString, defaultCountry: notAString,
  smsConsent: notAString, name: notAString, body: notAString, scheduledAt: notAString, contactId: notAString, packId: notAString,
  timezone: notAString, senderId: notAString, status: notAString,
  optOutFooter: notABoolean,
  tags: notAnArray, contacts: notAnArray,
  quietHours: notAnObject, audience: notAnObject,
};
const knownFieldJunk = fc
  .subarray(Object.keys(KNOWN_FIELDS), { minLength: 1, maxLength: 3 })
  .chain((keys) => fc.tuple(...keys.map((k) => KNOWN_FIELDS[k]!.map((v) => [k, v] as const))))
  .map((entries) => Object.fromEntries(entries));
const unknownFieldJunk = fc
  .tuple(fc.dictionary(fc.string({ maxLength: 12 }).map((k) => `x_${k}`), fc.anything({ maxDepth: 3 }), { minKeys: 1, maxKeys: 4 }), fc.option(knownFieldJunk, { nil: undefined }))
  .map(([unknown, known]) => ({ ...known, ...unknown }));

interface JunkBody {
  contentType: string;
  text: string;
}
const json = (value: unknown): JunkBody => ({ contentType: 'application/json', text: JSON.stringify(value) });
/** `{}` is a valid body where a route takes no options (enqueue, cancel): JSON.stringify makes it of fields whose junk value is `undefined`. */
const isEmptyObject = (b: JunkBody): boolean => b.contentType === 'application/json' && b.text.trim() === '{}';
const junkBody: fc.Arbitrary<JunkBody> = fc.oneof(
  // Invalid JSON.
  fc.oneof(fc.constantFrom('{', '{"a":', '{"a" 1}', "{'a':1}", '[1,]', 'nul', '{"a":1}}', '\u0000'), nasty.map((s) => `{${s}`)).map((text) => ({ contentType: 'application/json', text })),
  // Not JSON at all.
  fc.tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/json-patch+jsonx'), nasty).map(([contentType, text]) => ({ contentType, text: text || 'a=1' })),
  // JSON, but not an object.
  fc.oneof(fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 4 }), fc.integer(), nasty, fc.boolean(), fc.constant(null)).map(json),
  unknownFieldJunk.map(json),
  knownFieldJunk.map(json),
  // Deep nesting, at the top and under an unknown field.
  fc.integer({ min: 1_000, max: 100_000 }).map((depth) => ({ contentType: 'application/json', text: `${'['.repeat(depth)}${']'.repeat(depth)}` })),
  fc.integer({ min: 1_000, max: 50_000 }).map((depth) => ({ contentType: 'application/json', text: `{"x_deep":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}` })),
).filter((b) => !isEmptyObject(b));

const queryKey = fc.oneof(fc.constantFrom('limit', 'cursor', 'consent', 'tag', 'q', 'status', 'x_unknown'), nasty.filter((s) => s.length > 0));
const queryValue = fc.oneof(nasty, fc.constantFrom('-1', '0', '1e9', '9999999999999999999', 'NaN', '[]', '%', '%E0%A4%A', 'null'), fc.integer({ min: 1, max: 600 }).map((n) => 'q'.repeat(n)));
// Kept under Node's 16 KiB header limit: past it Node answers 431 itself, before any of our code runs.
const junkQuery = fc
  .array(fc.tuple(queryKey, queryValue, fc.boolean()), { minLength: 1, maxLength: 5 })
  // Some pairs are left un-encoded on purpose (bad percent-escapes, brackets, repeated keys).
  .map((pairs) => pairs.map(([k, v, raw]) => (raw ? `${k.replace(/[^\x21-\x7e]/g, '')}=${v.replace(/[^\x21-\x7e]/g, '').replace(/[#&]/g, '')}` : `${pct(k)}=${pct(v)}`)).join('&'));

const junkParam = fc.oneof(fc.uuid(), nasty.filter((s) => s.length > 0).map(pct), fc.constantFrom('0', '-1', 'null', '..', '%00', '00000000-0000-0000-0000-000000000000'));

interface JunkRequest {
  params: string[];
  query?: string;
  body?: JunkBody;
}

/** GETs always get a junk query; mutating routes always a junk body (so their schema must refuse it). */
const junkRequest = (route: RouteEntry): fc.Arbitrary<JunkRequest> =>
  fc.record({
    params: fc.tuple(...route.params.map(() => junkParam)),
    query: MUTATING.has(route.method) ? fc.option(junkQuery, { nil: undefined }) : junkQuery,
    body: MUTATING.has(route.method) ? junkBody : fc.option(junkBody, { nil: undefined }),
  });

describe('junk input on every /api route', () => {
  let env: TestEnv;
  let app: Express;
  let shop: ShopFixture;
  let routes: RouteEntry[];

  beforeAll(async () => {
    env = await createTestEnv({ RATE_LIMIT_GENERAL_PER_MIN: '100000', RATE_LIMIT_CAMPAIGNS_PER_MIN: '100000', RATE_LIMIT_IMPORTS_PER_MIN: '100000', RATE_LIMIT_BILLING_PER_MIN: '100000' });
    ({ app } = await env.api());
    // Provisioned before the runs: the only rows a request may ever add are its shop's, and it exists already.
    shop = await createShop(env.db, { credits: 100 });
    routes = routeTable(app).filter((r) => r.path.startsWith('/api/'));
  });
  afterAll(async () => {
    await env.close();
  });

  it('finds the /api routes (the walker is not blind)', () => {
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(expect.arrayContaining(['GET /api/shop', 'PATCH /api/shop', 'POST /api/contacts', 'POST /api/contacts/import']));
  });

  // A case the walk found (seed -1828498906): a message body holding a NUL passed the
  // schema, so a keyed PATCH of an unknown campaign stored its Idempotency-Key row
  // (404, failed) and, on a real campaign, the write would have failed in Postgres.
  // Names and a flow condition's tag had the same gap.
  it('refuses a NUL in a message body, a name or a tag in its schema, before any key is claimed', async () => {
    const token = await sessionToken(shop.domain, { expiresInSec: 300 });
    const before = await tableFingerprints(env.db);
    const zero = '00000000-0000-0000-0000-000000000000';
    const nul = 'Sale\u0000today';
    const cases: ['patch' | 'post', string, Record<string, unknown>, string, RegExp][] = [
      ['patch', `/api/campaigns/${zero}`, { body: nul }, 'body', /NUL/],
      ['post', '/api/campaigns', { name: 'Sale', body: nul }, 'body', /NUL/],
      ['post', '/api/flows/preview', { body: nul }, 'body', /NUL/],
      ['patch', `/api/campaigns/${zero}`, { name: nul }, 'name', /control characters/],
      ['patch', `/api/flows/${zero}`, { name: nul }, 'name', /control characters/],
    ];
    for (const [method, path, payload, field, message] of cases) {
      const res = await request(app)[method](path).set('Authorization', `Bearer ${token}`).set('Idempotency-Key', randomUUID()).send(payload);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: expect.arrayContaining([expect.objectContaining({ path: field, message: expect.stringMatching(message) })]) });
    }
    expect(await tableFingerprints(env.db)).toEqual(before);
  });

  it('never answers 5xx, answers 4xx in the error shape, and writes nothing', async () => {
    let before = await tableFingerprints(env.db);
    for (const route of routes) {
      // A fresh token per route: tokens live at most 5 minutes, the whole walk may take longer.
      const token = await sessionToken(shop.domain, { expiresInSec: 300 });
      const outcome = await fc.check(
        fc.asyncProperty(junkRequest(route), async (junk) => {
          let i = 0;
          const path = route.path.replace(/:(\w+)/g, () => junk.params[i++]!);
          const url = junk.query ? `${path}?${junk.query}` : path;
          let req = request(app)[route.method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete'](url).set('Authorization', `Bearer ${token}`);
          if (MUTATING.has(route.method)) req = req.set('Idempotency-Key', randomUUID());
          if (junk.body) req = req.set('Content-Type', junk.body.contentType).send(junk.body.text);
          const res = await req;

          const where = `${route.method} ${route.path} → ${res.status} ${res.text.slice(0, 300)}`;
          if (res.status >= 500) throw new Error(`5xx: ${where}`);
          if (res.status >= 400) {
            const error = res.body?.error as { code?: string; message?: unknown; requestId?: unknown } | undefined;
            const code = error?.code as keyof typeof ERROR_STATUS | undefined;
            if (!code || ERROR_STATUS[code] !== res.status || typeof error?.message !== 'string' || error.requestId !== res.headers['x-request-id']) {
              throw new Error(`not the documented error shape: ${where}`);
            }
          }
          const now = await tableFingerprints(env.db);
          const keyOnly = READS_BY_POST.has(`${route.method} ${route.path}`) && res.status < 300;
          const changed = Object.keys(now).filter((t) => now[t] !== before[t] && !(keyOnly && t === 'idempotency_keys'));
          if (changed.length > 0) throw new Error(`rows written or changed in ${changed.join(', ')}: ${where}`);
          // The key row such a preview stored is the new baseline.
          before = now;
        }),
        { numRuns: RUNS_PER_ROUTE, endOnFailure: true },
      );
      // fast-check's own report would print megabytes of generated junk.
      if (outcome.failed) {
        const cause = outcome.errorInstance instanceof Error ? outcome.errorInstance.message : String(outcome.errorInstance);
        throw new Error(`${cause}\n(seed ${outcome.seed}, path ${outcome.counterexamplePath}; input: ${JSON.stringify(outcome.counterexample).slice(0, 600)})`);
      }
    }
    // ~30 s on a quiet machine; a loaded one (other suites, a build) took 4x that.
  }, 300_000);
});
