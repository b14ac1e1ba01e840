// The chaos suite talks to the API the way its real clients do: the embedded
// app with Shopify session tokens, Stripe and Shopify with signed webhooks,
// the on-call CLI with HMAC-signed /internal calls.

import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import Stripe from 'stripe';
import { signSimulatorPayload } from '../../domain/messaging/providers/simulator-signature';
import { internalRequestHeaders } from '../../domain/ops/internal-signature';
import { signShopifyBody } from '../../domain/webhooks/verify-shopify-hmac';

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export interface ApiSecrets {
  SHOPIFY_API_KEY?: string;
  SHOPIFY_API_SECRET?: string;
  STRIPE_WEBHOOK_SECRET?: string;
  SMS_WEBHOOK_SECRET?: string;
  INTERNAL_SIGNING_SECRET?: string;
}

function need(value: string | undefined, name: string): string {
  if (!value) throw new Error(`${name} is not set in the stack environment`);
  return value;
}

async function parse<T>(res: Response): Promise<ApiResponse<T>> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

export class ApiClient {
  private readonly stripe = new Stripe('sk_test_signing_only').webhooks;

  constructor(
    readonly base: string,
    private readonly secrets: ApiSecrets,
    private readonly timeoutMs = 15_000,
  ) {}

  async sessionToken(shopDomain: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ dest: `https://${shopDomain}`, sid: 'chaos' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(`https://${shopDomain}/admin`)
      .setAudience(need(this.secrets.SHOPIFY_API_KEY, 'SHOPIFY_API_KEY'))
      .setSubject('1')
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 300)
      .setJti(randomUUID())
      .sign(new TextEncoder().encode(need(this.secrets.SHOPIFY_API_SECRET, 'SHOPIFY_API_SECRET')));
  }

  /** An embedded-app call under /api. No retries: the caller decides what a 429 or 503 means. */
  async call<T = unknown>(shopDomain: string, method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const res = await fetch(`${this.base}/api${route}`, {
      method,
      headers: { authorization: `Bearer ${await this.sessionToken(shopDomain)}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    return parse<T>(res);
  }

  async get<T = unknown>(path: string): Promise<ApiResponse<T>> {
    return parse<T>(await fetch(`${this.base}${path}`, { signal: AbortSignal.timeout(this.timeoutMs) }));
  }

  /** POST /webhooks/stripe with a valid Stripe-Signature over exactly these bytes. */
  async stripeWebhook(raw: string): Promise<ApiResponse> {
    const header = this.stripe.generateTestHeaderString({ payload: raw, secret: need(this.secrets.STRIPE_WEBHOOK_SECRET, 'STRIPE_WEBHOOK_SECRET') });
    const res = await fetch(`${this.base}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': header },
      body: raw,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    return parse(res);
  }

  /** POST /webhooks/shopify, HMAC-signed, with Shopify's delivery headers. */
  async shopifyWebhook(topic: string, webhookId: string, shopDomain: string, raw: string): Promise<ApiResponse> {
    const res = await fetch(`${this.base}/webhooks/shopify`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-shopify-topic': topic,
        'x-shopify-webhook-id': webhookId,
        'x-shopify-shop-domain': shopDomain,
        'x-shopify-hmac-sha256': signShopifyBody(need(this.secrets.SHOPIFY_API_SECRET, 'SHOPIFY_API_SECRET'), raw),
      },
      body: raw,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    return parse(res);
  }

  /** POST /webhooks/sms/simulator/inbound, signed as the simulator signs a handset's text (a STOP, a keyword). */
  async smsInbound(message: { id: string; from: string; to: string; text: string; timestamp?: string }): Promise<ApiResponse> {
    const raw = JSON.stringify(message);
    const res = await fetch(`${this.base}/webhooks/sms/simulator/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-simulator-signature': signSimulatorPayload(need(this.secrets.SMS_WEBHOOK_SECRET, 'SMS_WEBHOOK_SECRET'), raw) },
      body: raw,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    return parse(res);
  }

  /** An HMAC-signed /internal call, as `npm run ops` makes it. */
  async internal<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiResponse<T>> {
    const raw = method === 'GET' || body === undefined ? '' : JSON.stringify(body);
    const signed = internalRequestHeaders(need(this.secrets.INTERNAL_SIGNING_SECRET, 'INTERNAL_SIGNING_SECRET'), { method, pathWithQuery: path, body: raw });
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...signed },
      body: method === 'GET' ? undefined : raw,
      signal: AbortSignal.timeout(60_000),
    });
    return parse<T>(res);
  }
}
