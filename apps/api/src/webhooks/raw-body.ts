import express, { type Request, type RequestHandler } from 'express';
import { simulatorSignatureMayPass } from '../../../../domain/messaging/providers/simulator-signature';
import { shopifyHmacHeaderMayPass } from '../../../../domain/webhooks/verify-shopify-hmac';
import { isSmsCallbackProvider, mittoTokenValid } from '../../../../domain/webhooks/verify-sms-callback';
import type { Config } from '../../../../lib/config';
import { AppError } from '../../../../lib/errors';
import type { Metrics } from '../../../../lib/metrics';
import { boundedBody, KiB, MiB } from '../middleware/body-limit';

/** What a sender's check before the body needs. */
export interface RawBodyDeps {
  metrics: Metrics;
  config: Pick<Config, 'SMS_WEBHOOK_SECRET' | 'SMS_WEBHOOK_SECRET_PREVIOUS'>;
  now: () => Date;
}

interface Sender {
  /** The largest delivery read (413 above it, before reading when the length is declared). */
  limit: number;
  /** Why the request is refused before its body is read (no credential, or one that cannot verify whatever the body), or null. */
  refuse(req: Request, deps: RawBodyDeps): AppError | null;
}

/** The SMS routes' body limit, which the report fast path keeps too. */
export const SMS_BODY_LIMIT = 64 * KiB;

/** The SMS callbacks' secrets, as verify-sms-callback.ts takes them. */
export const smsSecrets = (deps: Pick<RawBodyDeps, 'config'>) => ({ secret: deps.config.SMS_WEBHOOK_SECRET, previousSecret: deps.config.SMS_WEBHOOK_SECRET_PREVIOUS });

const unsignedUnless = (present: boolean, metrics: Metrics, source: string): AppError | null => (present ? null : invalidSignature(metrics, source));

/** The simulator scheme's timestamp window is checked against the api's clock, as verifySmsCallback checks it. */
const nowSec = (deps: RawBodyDeps): number => Math.floor(deps.now().getTime() / 1000);

/**
 * Webhooks are unauthenticated until their signature is checked, and that
 * needs the body: so a delivery whose credential cannot pass whatever the
 * body (none; a Shopify HMAC that is not the base64 of 32 bytes; a simulator
 * signature without a v1 digest or outside its time window; a wrong Mitto
 * token) is refused before a byte is read, and each sender's bodies are
 * bounded by what it sends.
 */
const SENDERS = {
  // The events handled are a few KiB; the room is for Stripe objects with
  // long metadata. A real event refused is retried for days, then lost.
  stripe: { limit: MiB, refuse: (req, deps) => unsignedUnless(req.get('stripe-signature') !== undefined, deps.metrics, 'stripe') },
  // app/uninstalled carries the shop object; the privacy topics ids.
  shopify: { limit: MiB, refuse: (req, deps) => unsignedUnless(shopifyHmacHeaderMayPass(req.get('x-shopify-hmac-sha256')), deps.metrics, 'shopify') },
  // One delivery report or inbound text (≤ 2000 characters) each.
  // The credentials are verifySmsCallback's, each provider its own: Mitto's
  // URL token (it does not depend on the body, so a wrong one is refused
  // unread), the simulator's signature header (its timestamp and digest
  // shape, checked before reading).
  sms: {
    limit: SMS_BODY_LIMIT,
    refuse: (req, deps) => {
      const provider = String(req.params.provider);
      if (!isSmsCallbackProvider(provider)) return new AppError('NOT_FOUND', 'Unknown SMS provider');
      if (provider === 'mitto') {
        const token = req.query.token;
        return unsignedUnless(typeof token === 'string' && mittoTokenValid(smsSecrets(deps), token), deps.metrics, 'sms-mitto');
      }
      return unsignedUnless(simulatorSignatureMayPass(req.headers['x-simulator-signature'], nowSec(deps)), deps.metrics, `sms-${provider}`);
    },
  },
} satisfies Record<string, Sender>;

/**
 * Webhook bodies stay raw bytes: every signature is computed over them, and
 * re-serialised JSON would not match. Any content type is read (a sender's
 * missing or odd Content-Type must not skip verification), within the
 * sender's limit and only once a credential is present.
 */
export function rawBody(deps: RawBodyDeps, sender: keyof typeof SENDERS): RequestHandler {
  const { limit, refuse } = SENDERS[sender];
  const read = boundedBody(express.raw({ type: () => true, limit }), limit);
  return (req, res, next) => {
    const refused = refuse(req, deps);
    if (refused) next(refused);
    else read(req, res, next);
  };
}

export function rawOf(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

/** The signed body as JSON; a signed body that is not JSON is the sender's bug (400). */
export function jsonOf(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AppError('VALIDATION_FAILED', 'Webhook body is not valid JSON', { details: [{ path: '', message: 'invalid JSON' }] });
  }
}

/** Counted, then answered 401 INVALID_SIGNATURE before anything is stored. */
export function invalidSignature(metrics: Metrics, source: string): AppError {
  metrics.webhookEvents.inc({ source, outcome: 'invalid_signature' });
  return new AppError('INVALID_SIGNATURE', 'Webhook signature is missing, wrong or outside the time tolerance');
}
