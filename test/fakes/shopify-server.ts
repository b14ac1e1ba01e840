import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';

// A fake Shopify on loopback, for tests, the demo and manual runs: what the
// app reaches through SHOPIFY_ADMIN_API_BASE (the Shopify library's calls,
// redirected with the shop in X-Shopify-Shop-Domain).
//
//   POST /admin/oauth/access_token            token exchange (client credentials + a session
//                                             token signed with the app secret), counted
//   POST /admin/api/<version>/graphql.json    Admin GraphQL: bulkOperationRunQuery,
//                                             currentBulkOperation / node(id) polling,
//                                             customerSmsMarketingConsentUpdate
//   GET  /bulk/<id>.jsonl                     a finished bulk operation's result, streamed
//   GET  /_fake/state, POST /_fake/seed, POST /_fake/reset   control for runs outside Jest
//
// Failures are set per shop or for all (`failNext`), tokens can be revoked,
// the next bulk operation can be made to fail and the next result download
// to be cut mid-way (`cutNextDownload`). Everything the app sent is
// recorded for assertions.

export interface FakeCustomer {
  /** `gid://shopify/Customer/<n>` (given or assigned). */
  id?: string;
  firstName?: string | null;
  lastName?: string | null;
  email?: string | null;
  phone?: string | null;
  tags?: string[];
  numberOfOrders?: string | number;
  amountSpent?: { amount: string; currencyCode: string };
  lastOrder?: { createdAt: string } | null;
  smsMarketingConsent?: {
    marketingState: 'SUBSCRIBED' | 'NOT_SUBSCRIBED' | 'PENDING' | 'UNSUBSCRIBED' | 'REDACTED' | 'INVALID';
    marketingOptInLevel?: 'SINGLE_OPT_IN' | 'CONFIRMED_OPT_IN' | 'UNKNOWN' | null;
    consentUpdatedAt?: string | null;
    consentCollectedFrom?: string | null;
  } | null;
  updatedAt?: string;
  [field: string]: unknown;
}

export type FailureKind =
  /** 401 on GraphQL (as for a revoked token). */
  | 'unauthorized'
  /** 200 with a THROTTLED error and cost extensions. */
  | 'throttled'
  /** 500 on GraphQL. */
  | 'server_error'
  /** 429 on GraphQL with Retry-After: 1 (the REST-style rate limit). */
  | 'rate_limited'
  /** The token exchange answers 500. */
  | 'exchange_server_error'
  /** The token exchange refuses the subject token (400 invalid_subject_token). */
  | 'exchange_refused';

export interface BulkOperation {
  id: string;
  shop: string;
  query: string;
  status: 'CREATED' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELED';
  errorCode: string | null;
  createdAt: string;
  completedAt: string | null;
  objectCount: number;
  url: string | null;
  /** Polls left before it finishes by itself (completeBulkOperation finishes it at once). */
  pollsLeft: number;
  failWith: string | null;
}

export interface RecordedExchange {
  shop: string;
  accessToken: string;
  requestedTokenType: string;
}

export interface RecordedGraphql {
  shop: string;
  query: string;
  variables: Record<string, unknown> | undefined;
  status: number;
}

export interface RecordedConsentUpdate {
  shop: string;
  customerId: string;
  smsMarketingConsent: Record<string, unknown>;
}

export interface FakeShopifyOptions {
  apiKey?: string;
  apiSecret?: string;
  /** Delay before the token exchange answers (lets concurrent first requests overlap). */
  exchangeDelayMs?: number;
  /** Polls of a running bulk operation before it completes by itself (default 1). */
  bulkPolls?: number;
  port?: number;
}

export interface FakeShopify {
  url: string;
  /** Successful token exchanges, in order. */
  exchanges: RecordedExchange[];
  graphqlCalls: RecordedGraphql[];
  consentUpdates: RecordedConsentUpdate[];
  bulkOperations: BulkOperation[];
  exchangeDelayMs: number;
  /** Polls a new bulk operation takes to finish by itself (a large number: only completeBulkOperation ends it). */
  bulkPolls: number;
  /** False: `node(id)` is not implemented (a GraphQL error), as in a server that only answers currentBulkOperation. */
  answersNode: boolean;
  /**
   * Awaited before a customerSmsMarketingConsentUpdate is applied: a test
   * holds one write in flight (as a slow network would) while others land.
   */
  beforeConsentUpdate: ((shop: string, input: Record<string, unknown>) => Promise<void>) | null;
  seedCustomers(shop: string, customers: FakeCustomer[] | ((i: number) => FakeCustomer), count?: number): void;
  customers(shop: string): FakeCustomer[];
  /** The next `times` matching calls (of `shop`, or any shop) fail this way. */
  failNext(kind: FailureKind, o?: { shop?: string; times?: number }): void;
  /** The next bulk operation of the shop (or any) ends FAILED with this error code. */
  failNextBulkOperation(o?: { shop?: string; errorCode?: string }): void;
  /** The next result download (of the shop, or any) stops after `afterLines` lines: the connection is cut. */
  cutNextDownload(o: { afterLines: number; shop?: string }): void;
  /** Result downloads so far (started), per bulk operation id. */
  downloads: Map<string, number>;
  /** Finishes a running bulk operation now (COMPLETED, or FAILED if so set). */
  completeBulkOperation(id: string): BulkOperation;
  /** Every token issued to the shop stops working (401). */
  revokeTokens(shop: string): void;
  /** The shop removes the app: its tokens stop working and exchanges are refused until install(). */
  uninstall(shop: string): void;
  install(shop: string): void;
  tokensOf(shop: string): string[];
  /** A bulk_operations/finish webhook body for a finished operation (as Shopify sends it). */
  bulkFinishWebhook(op: BulkOperation): Record<string, unknown>;
  reset(): void;
  close(): Promise<void>;
}

export const FAKE_SCOPES = 'read_customers,write_customers,read_orders';
const SHOP = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;
const BODY_LIMIT = 1 << 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cost = (requested: number, available: number) => ({
  cost: { requestedQueryCost: requested, actualQueryCost: available >= requested ? requested : null, throttleStatus: { maximumAvailable: 2000, currentlyAvailable: available, restoreRate: 100 } },
});

export async function startFakeShopify(opts: FakeShopifyOptions = {}): Promise<FakeShopify> {
  const apiKey = opts.apiKey ?? process.env.SHOPIFY_API_KEY ?? 'test-shopify-key';
  const apiSecret = opts.apiSecret ?? process.env.SHOPIFY_API_SECRET ?? 'test-shopify-secret';
  const secretKey = new TextEncoder().encode(apiSecret);

  const exchanges: RecordedExchange[] = [];
  const graphqlCalls: RecordedGraphql[] = [];
  const consentUpdates: RecordedConsentUpdate[] = [];
  const bulkOperations: BulkOperation[] = [];
  const tokens = new Map<string, string>(); // token → shop
  const customersByShop = new Map<string, FakeCustomer[]>();
  const uninstalled = new Set<string>();
  let failures: { kind: FailureKind; shop?: string; left: number }[] = [];
  let bulkFailures: { shop?: string; errorCode: string }[] = [];
  let downloadCuts: { shop?: string; afterLines: number }[] = [];
  const downloads = new Map<string, number>();
  let nextId = 1;
  let url = '';

  const takeFailure = (shop: string, kinds: FailureKind[]): FailureKind | null => {
    const f = failures.find((x) => kinds.includes(x.kind) && (!x.shop || x.shop === shop) && x.left > 0);
    if (!f) return null;
    f.left--;
    failures = failures.filter((x) => x.left > 0);
    return f.kind;
  };

  const finish = (op: BulkOperation): void => {
    if (op.status !== 'RUNNING' && op.status !== 'CREATED') return;
    op.completedAt = new Date().toISOString();
    if (op.failWith) {
      op.status = 'FAILED';
      op.errorCode = op.failWith;
      return;
    }
    op.status = 'COMPLETED';
    op.objectCount = customersByShop.get(op.shop)?.length ?? 0;
    op.url = op.objectCount > 0 ? `${url}/bulk/${encodeURIComponent(op.id.split('/').pop()!)}.jsonl` : null;
  };

  const opView = (op: BulkOperation | undefined) =>
    op
      ? { id: op.id, status: op.status, errorCode: op.errorCode, createdAt: op.createdAt, completedAt: op.completedAt, objectCount: String(op.objectCount), fileSize: null, url: op.url, partialDataUrl: null, query: op.query, type: 'QUERY' }
      : null;

  /** A poll moves a running operation towards its end. */
  const poll = (op: BulkOperation | undefined): BulkOperation | undefined => {
    if (op && (op.status === 'RUNNING' || op.status === 'CREATED')) {
      op.status = 'RUNNING';
      if (--op.pollsLeft <= 0) finish(op);
    }
    return op;
  };

  const graphql = (shop: string, query: string, variables: Record<string, unknown> | undefined): Record<string, unknown> => {
    const ok = (data: Record<string, unknown>) => ({ data, extensions: cost(10, 1990) });
    if (/\bbulkOperationRunQuery\b/.test(query)) {
      const running = bulkOperations.find((o) => o.shop === shop && (o.status === 'RUNNING' || o.status === 'CREATED'));
      if (running) {
        return ok({ bulkOperationRunQuery: { bulkOperation: null, userErrors: [{ field: ['query'], message: 'A bulk query operation for this app and shop is already in progress: ' + running.id, code: 'OPERATION_IN_PROGRESS' }] } });
      }
      const fIdx = bulkFailures.findIndex((f) => !f.shop || f.shop === shop);
      const failWith = fIdx >= 0 ? bulkFailures.splice(fIdx, 1)[0]!.errorCode : null;
      const inner = typeof variables?.query === 'string' ? variables.query : (/query:\s*"""([\s\S]*?)"""/.exec(query)?.[1] ?? query);
      const op: BulkOperation = {
        id: `gid://shopify/BulkOperation/${nextId++}`, shop, query: inner, status: 'CREATED', errorCode: null,
        createdAt: new Date().toISOString(), completedAt: null, objectCount: 0, url: null, pollsLeft: api.bulkPolls, failWith,
      };
      bulkOperations.push(op);
      return ok({ bulkOperationRunQuery: { bulkOperation: { id: op.id, status: op.status }, userErrors: [] } });
    }
    if (/\bcurrentBulkOperation\b/.test(query)) {
      const mine = bulkOperations.filter((o) => o.shop === shop);
      return ok({ currentBulkOperation: opView(poll(mine[mine.length - 1])) });
    }
    if (/\bnode\s*\(/.test(query) && typeof variables?.id === 'string' && api.answersNode) {
      return ok({ node: opView(poll(bulkOperations.find((o) => o.shop === shop && o.id === variables.id))) });
    }
    if (/\bcustomerSmsMarketingConsentUpdate\b/.test(query)) {
      const input = (variables?.input ?? {}) as { customerId?: string; smsMarketingConsent?: Record<string, unknown> };
      const customer = (customersByShop.get(shop) ?? []).find((c) => c.id === input.customerId);
      if (!customer || !input.smsMarketingConsent) {
        return ok({ customerSmsMarketingConsentUpdate: { customer: null, userErrors: [{ field: ['input', 'customerId'], message: 'Customer not found', code: 'INVALID' }] } });
      }
      consentUpdates.push({ shop, customerId: input.customerId!, smsMarketingConsent: input.smsMarketingConsent });
      const state = input.smsMarketingConsent;
      customer.smsMarketingConsent = {
        marketingState: state.marketingState as NonNullable<FakeCustomer['smsMarketingConsent']>['marketingState'],
        marketingOptInLevel: (state.marketingOptInLevel as 'SINGLE_OPT_IN' | undefined) ?? customer.smsMarketingConsent?.marketingOptInLevel ?? null,
        consentUpdatedAt: (state.consentUpdatedAt as string | undefined) ?? new Date().toISOString(),
        consentCollectedFrom: 'OTHER',
      };
      return ok({ customerSmsMarketingConsentUpdate: { customer: { id: customer.id, phone: customer.phone ?? null, smsMarketingConsent: customer.smsMarketingConsent }, userErrors: [] } });
    }
    return { errors: [{ message: 'The fake Shopify does not implement this query', extensions: { code: 'FAKE_NOT_IMPLEMENTED' } }] };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    const json = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'X-Request-Id': randomBytes(8).toString('hex'), ...headers });
      res.end(JSON.stringify(payload));
    };
    const shop = String(req.headers['x-shopify-shop-domain'] ?? '').toLowerCase();

    if (req.method === 'GET' && path.startsWith('/bulk/')) {
      const id = `gid://shopify/BulkOperation/${decodeURIComponent(path.slice('/bulk/'.length).replace(/\.jsonl$/, ''))}`;
      const op = bulkOperations.find((o) => o.id === id && o.status === 'COMPLETED');
      if (!op) return json(404, { error: 'no such result' });
      downloads.set(op.id, (downloads.get(op.id) ?? 0) + 1);
      const cutIdx = downloadCuts.findIndex((c) => !c.shop || c.shop === op.shop);
      const cut = cutIdx >= 0 ? downloadCuts.splice(cutIdx, 1)[0]!.afterLines : null;
      res.writeHead(200, { 'Content-Type': 'application/jsonl' });
      // Written line by line with backpressure: the download is a stream on both sides.
      let written = 0;
      for (const c of customersByShop.get(op.shop) ?? []) {
        if (cut !== null && written >= cut) {
          // A connection lost mid-download: what was sent arrives, then the socket closes without the end of the body.
          await new Promise((r) => res.write('', r));
          res.socket?.destroy();
          return;
        }
        written++;
        if (!res.write(`${JSON.stringify(c)}\n`)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
      return;
    }
    if (path === '/_fake/state' && req.method === 'GET') {
      return json(200, { exchanges: exchanges.length, graphqlCalls: graphqlCalls.length, consentUpdates, bulkOperations: bulkOperations.map(opView) });
    }
    if (path === '/_fake/seed' && req.method === 'POST') {
      const { shop: s, customers } = JSON.parse(body) as { shop: string; customers: FakeCustomer[] };
      api.seedCustomers(s, customers);
      return json(200, { seeded: customers.length });
    }
    if (path === '/_fake/reset' && req.method === 'POST') {
      api.reset();
      return json(200, { reset: true });
    }
    if (!SHOP.test(shop)) return json(400, { errors: 'X-Shopify-Shop-Domain must name a *.myshopify.com shop' });

    if (path === '/admin/oauth/access_token' && req.method === 'POST') {
      const p = JSON.parse(body || '{}') as Record<string, string>;
      if (api.exchangeDelayMs > 0) await sleep(api.exchangeDelayMs);
      const failure = takeFailure(shop, ['exchange_server_error', 'exchange_refused']);
      if (failure === 'exchange_server_error') return json(500, { errors: 'Internal error' });
      if (p.client_id !== apiKey || p.client_secret !== apiSecret) return json(401, { error: 'invalid_client', error_description: 'Client credentials are invalid' });
      if (p.grant_type !== 'urn:ietf:params:oauth:grant-type:token-exchange' || p.subject_token_type !== 'urn:ietf:params:oauth:token-type:id_token') {
        return json(400, { error: 'unsupported_grant_type' });
      }
      try {
        const { payload } = await jwtVerify(p.subject_token ?? '', secretKey, { algorithms: ['HS256'], audience: apiKey, clockTolerance: 10 });
        if (typeof payload.dest !== 'string' || new URL(payload.dest).hostname !== shop) throw new Error('dest is another shop');
      } catch {
        return json(400, { error: 'invalid_subject_token', error_description: 'The subject token is not a valid session token of this shop' });
      }
      // Shopify grants tokens only to an app the shop has installed.
      if (uninstalled.has(shop)) return json(400, { error: 'invalid_subject_token', error_description: 'The app is not installed on this shop' });
      if (failure === 'exchange_refused') return json(400, { error: 'invalid_subject_token', error_description: 'refused (configured failure)' });
      const accessToken = `shpat_${randomBytes(16).toString('hex')}`;
      tokens.set(accessToken, shop);
      exchanges.push({ shop, accessToken, requestedTokenType: p.requested_token_type ?? '' });
      return json(200, { access_token: accessToken, scope: FAKE_SCOPES });
    }

    if (/^\/admin\/api\/[^/]+\/graphql\.json$/.test(path) && req.method === 'POST') {
      const { query = '', variables } = JSON.parse(body || '{}') as { query?: string; variables?: Record<string, unknown> };
      const record = (status: number) => graphqlCalls.push({ shop, query, variables, status });
      const token = String(req.headers['x-shopify-access-token'] ?? '');
      const failure = takeFailure(shop, ['unauthorized', 'throttled', 'server_error', 'rate_limited']);
      if (failure === 'unauthorized' || tokens.get(token) !== shop) {
        record(401);
        return json(401, { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' });
      }
      if (failure === 'rate_limited') {
        record(429);
        return json(429, { errors: 'Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.' }, { 'Retry-After': '1' });
      }
      if (failure === 'server_error') {
        record(500);
        return json(500, { errors: 'Internal Server Error' });
      }
      if (failure === 'throttled') {
        record(200);
        return json(200, { errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' } }], extensions: cost(500, 50) });
      }
      if (api.beforeConsentUpdate && /\bcustomerSmsMarketingConsentUpdate\b/.test(query)) {
        await api.beforeConsentUpdate(shop, (variables?.input ?? {}) as Record<string, unknown>);
      }
      record(200);
      return json(200, graphql(shop, query, variables));
    }
    return json(404, { errors: 'Not Found' });
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: `fake failure: ${err.message}` }));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const api: FakeShopify = {
    url,
    exchanges,
    graphqlCalls,
    consentUpdates,
    bulkOperations,
    exchangeDelayMs: opts.exchangeDelayMs ?? 0,
    bulkPolls: opts.bulkPolls ?? 1,
    answersNode: true,
    beforeConsentUpdate: null,
    seedCustomers(shop, customers, count) {
      const list = customersByShop.get(shop) ?? [];
      const made = typeof customers === 'function' ? Array.from({ length: count ?? 0 }, (_, i) => customers(i)) : customers;
      for (const c of made) list.push({ ...c, id: c.id ?? `gid://shopify/Customer/${nextId++}` });
      customersByShop.set(shop, list);
    },
    customers: (shop) => customersByShop.get(shop) ?? [],
    failNext(kind, o = {}) {
      failures.push({ kind, shop: o.shop, left: o.times ?? 1 });
    },
    cutNextDownload(o) {
      downloadCuts.push({ shop: o.shop, afterLines: o.afterLines });
    },
    downloads,
    failNextBulkOperation(o = {}) {
      bulkFailures.push({ shop: o.shop, errorCode: o.errorCode ?? 'INTERNAL_SERVER_ERROR' });
    },
    completeBulkOperation(id) {
      const op = bulkOperations.find((o) => o.id === id);
      if (!op) throw new Error(`no bulk operation ${id}`);
      finish(op);
      return op;
    },
    revokeTokens(shop) {
      for (const [t, s] of tokens) if (s === shop) tokens.delete(t);
    },
    uninstall(shop) {
      uninstalled.add(shop);
      api.revokeTokens(shop);
    },
    install(shop) {
      uninstalled.delete(shop);
    },
    tokensOf: (shop) => [...tokens].filter(([, s]) => s === shop).map(([t]) => t),
    bulkFinishWebhook: (op) => ({
      admin_graphql_api_id: op.id,
      completed_at: op.completedAt,
      created_at: op.createdAt,
      error_code: op.errorCode ? op.errorCode.toLowerCase() : null,
      status: op.status.toLowerCase(),
      type: 'query',
    }),
    reset() {
      exchanges.length = 0;
      graphqlCalls.length = 0;
      consentUpdates.length = 0;
      bulkOperations.length = 0;
      tokens.clear();
      customersByShop.clear();
      uninstalled.clear();
      failures = [];
      bulkFailures = [];
      downloadCuts = [];
      downloads.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return api;
}

// `tsx test/fakes/shopify-server.ts`: a standalone fake for the demo and manual
// runs (SHOPIFY_FAKE_PORT, default 4020; the app's SHOPIFY_API_KEY/SECRET).
if (require.main === module) {
  void startFakeShopify({ port: Number(process.env.SHOPIFY_FAKE_PORT ?? 4020), apiKey: process.env.SHOPIFY_API_KEY ?? 'dev-shopify-api-key', apiSecret: process.env.SHOPIFY_API_SECRET ?? 'dev-shopify-api-secret' }).then((f) => {
    process.stdout.write(`fake Shopify on ${f.url} (SHOPIFY_ADMIN_API_BASE=${f.url})\n`);
  });
}
