import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// A fake Stripe API for tests: POST /v1/customers and POST /v1/checkout/sessions
// with form-encoded bodies, as the stripe library sends them. Idempotency-Key
// is honoured the way Stripe does: the same key returns the same object. A
// session for a customer this fake did not create is refused as Stripe
// refuses one of another account or mode (400 resource_missing, param customer).

export type FormValue = string | FormValue[] | { [k: string]: FormValue };
export type FormObject = { [k: string]: FormValue };

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  authorization: string | undefined;
  params: FormObject;
}

export interface FakeStripe {
  url: string;
  requests: RecordedRequest[];
  /** Objects actually created (replays of an idempotency key create nothing). */
  customers: Record<string, unknown>[];
  sessions: Record<string, unknown>[];
  close(): Promise<void>;
}

/** `a[b][0][c]=x` → `{a: {b: [{c: 'x'}]}}`. */
export function parseForm(body: string): FormObject {
  const root: FormObject = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const path = rawKey.split(/\[|\]\[|\]/).filter((p) => p !== '');
    let node: FormObject | FormValue[] = root;
    path.forEach((part, i) => {
      const last = i === path.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(path[i + 1] as string);
      const container = node as Record<string, FormValue>;
      if (last) {
        container[part] = value;
      } else {
        container[part] ??= nextIsIndex ? [] : {};
        node = container[part] as FormObject | FormValue[];
      }
    });
  }
  return root;
}

const id = (prefix: string): string => `${prefix}_${randomBytes(12).toString('hex')}`;

export async function startFakeStripe(): Promise<FakeStripe> {
  const requests: RecordedRequest[] = [];
  const customers: Record<string, unknown>[] = [];
  const sessions: Record<string, unknown>[] = [];
  const byKey = new Map<string, { status: number; body: string }>();

  const create = (path: string, params: FormObject): { status: number; body: Record<string, unknown> } => {
    if (path === '/v1/customers') {
      const customer = { id: id('cus'), object: 'customer', description: params.description ?? null, metadata: params.metadata ?? {} };
      customers.push(customer);
      return { status: 200, body: customer };
    }
    if (path === '/v1/checkout/sessions') {
      // As Stripe: a customer of another account or mode (or deleted) does not exist here.
      if (typeof params.customer === 'string' && !customers.some((c) => c.id === params.customer)) {
        return {
          status: 400,
          body: { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'customer', message: `No such customer: '${params.customer}'` } },
        };
      }
      const sid = id('cs_test');
      const items = (params.line_items as FormObject[] | undefined) ?? [];
      const price = (items[0]?.price_data ?? {}) as FormObject;
      const session = {
        id: sid,
        object: 'checkout.session',
        mode: params.mode,
        customer: params.customer ?? null,
        client_reference_id: params.client_reference_id ?? null,
        metadata: params.metadata ?? {},
        currency: price.currency ?? null,
        amount_total: Number(price.unit_amount ?? 0) * Number(items[0]?.quantity ?? 1),
        payment_status: 'unpaid',
        status: 'open',
        payment_intent: null,
        success_url: params.success_url,
        cancel_url: params.cancel_url,
        url: `https://checkout.stripe.test/c/pay/${sid}`,
      };
      sessions.push(session);
      return { status: 200, body: session };
    }
    return { status: 404, body: { error: { type: 'invalid_request_error', message: `Unrecognized request URL (POST: ${path})` } } };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] as string;
      const params = parseForm(Buffer.concat(chunks).toString('utf8'));
      const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
      requests.push({ method: req.method ?? '', path, idempotencyKey, authorization: req.headers.authorization, params });
      const send = (status: number, body: string): void => {
        res.writeHead(status, { 'Content-Type': 'application/json', 'Request-Id': id('req') });
        res.end(body);
      };
      if (!/^Bearer sk_/.test(req.headers.authorization ?? '')) {
        send(401, JSON.stringify({ error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } }));
        return;
      }
      if (req.method !== 'POST') {
        send(404, JSON.stringify({ error: { type: 'invalid_request_error', message: 'not implemented by the fake' } }));
        return;
      }
      const cacheKey = idempotencyKey ? `${path}\n${idempotencyKey}` : undefined;
      const cached = cacheKey ? byKey.get(cacheKey) : undefined;
      if (cached) {
        send(cached.status, cached.body);
        return;
      }
      const out = create(path, params);
      const body = JSON.stringify(out.body);
      if (cacheKey) byKey.set(cacheKey, { status: out.status, body });
      send(out.status, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    customers,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
