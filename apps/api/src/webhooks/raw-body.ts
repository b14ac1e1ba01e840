import express, { type Request } from 'express';
import { AppError } from '../../../../lib/errors';
import type { Metrics } from '../../../../lib/metrics';

/**
 * Webhook bodies stay raw bytes: every signature is computed over them, and
 * re-serialised JSON would not match. Any content type is read (a sender's
 * missing or odd Content-Type must not skip verification); 1 MiB at most.
 */
export const rawBody = express.raw({ type: () => true, limit: '1mb' });

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
