import { ingestDeliveryReports } from '../../../../domain/webhooks/ingest-delivery-reports';
import { deliveryReportBatchSchema, deliveryReportSchema } from '../../../../domain/webhooks/sms-payloads';
import { storeDeliveryReport } from '../../../../domain/webhooks/store-delivery-report';
import { verifySmsCallback, type SmsCallbackProvider } from '../../../../domain/webhooks/verify-sms-callback';
import { runWithContext } from '../../../../lib/context';
import type { ApiDeps } from '../deps';
import { parseValue } from '../validation';
import { invalidSignature, jsonOf, smsSecrets } from './raw-body';

/** What a provider's callback carries to prove it is the provider's. */
export interface SmsCallbackCredentials {
  /** X-Simulator-Signature. */
  signature: string | string[] | undefined;
  /** `?token=` of the callback URL (Mitto). */
  token: unknown;
}

/**
 * A provider callback's body, once its credentials are verified against the
 * raw bytes: only then is it parsed (401 before, 400 for a signed body that
 * is not JSON).
 */
export function verifiedCallbackBody(deps: Pick<ApiDeps, 'config' | 'metrics' | 'now'>, provider: SmsCallbackProvider, credentials: SmsCallbackCredentials, raw: Buffer): unknown {
  const ok = verifySmsCallback(provider, {
    ...smsSecrets(deps),
    signature: credentials.signature,
    token: credentials.token,
    rawBody: raw,
    nowSec: Math.floor(deps.now().getTime() / 1000),
  });
  if (!ok) throw invalidSignature(deps.metrics, `sms-${provider}`);
  if (ok === 'previous') deps.metrics.webhookEvents.inc({ source: `sms-${provider}`, outcome: 'previous_secret' });
  return jsonOf(raw);
}

const isBatch = (body: unknown): boolean => typeof body === 'object' && body !== null && !Array.isArray(body) && 'reports' in body;

/**
 * `POST /webhooks/sms/:provider/status` once verified: one report (stored
 * with the concurrent requests' reports, store-delivery-report.ts) or the
 * batched form `{"reports": [...]}` under one signature (one row,
 * ingest-delivery-reports.ts). Returns the 200's body.
 */
export async function receiveDeliveryReports(deps: ApiDeps, provider: SmsCallbackProvider, body: unknown, raw: Buffer, requestId: string): Promise<object> {
  if (isBatch(body)) {
    const { reports } = parseValue(deliveryReportBatchSchema, body, 'body');
    return runWithContext({ requestId, traceId: requestId }, () => ingestDeliveryReports(deps, `sms-${provider}`, reports, raw));
  }
  const report = parseValue(deliveryReportSchema, body, 'body');
  return (await storeDeliveryReport(deps, `sms-${provider}`, report, requestId)) ? { received: true } : { duplicate: true };
}
