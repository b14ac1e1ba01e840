import { Router, type Request } from 'express';
import { enqueueDeliveryReportsJob } from '../../../../domain/webhooks/enqueue-delivery-reports-job';
import { ingestDeliveryReports } from '../../../../domain/webhooks/ingest-delivery-reports';
import { ingestWebhookEvent } from '../../../../domain/webhooks/ingest-event';
import { deliveryReportBatchSchema, deliveryReportEventId, deliveryReportSchema, inboundEventId, inboundMessageSchema } from '../../../../domain/webhooks/sms-payloads';
import { isSmsCallbackProvider, verifySmsCallback, type SmsCallbackProvider } from '../../../../domain/webhooks/verify-sms-callback';
import { AppError } from '../../../../lib/errors';
import type { ApiDeps } from '../deps';
import { parseBody } from '../validation';
import { invalidSignature, jsonOf, rawBody, rawOf } from './raw-body';
import { EXACT_ROUTING } from '../router-options';

const isBatch = (body: unknown): boolean => typeof body === 'object' && body !== null && !Array.isArray(body) && 'reports' in body;

/**
 * Delivery reports and inbound texts. Reports take the lean path (a row in
 * the inbox's shared INSERTs, one shared bulk job per 100 ms), one per
 * request or many under one signature (`{"reports": [...]}`). Inbound texts are processed inline, before the 200: a STOP is in
 * force by the time the provider hears back, so a batch claimed a moment
 * later already skips the number; the job is the fallback if that fails.
 */
export function smsWebhookRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);

  const verified = (req: Request): { provider: SmsCallbackProvider; raw: Buffer } => {
    const provider = String(req.params.provider);
    if (!isSmsCallbackProvider(provider)) throw new AppError('NOT_FOUND', 'Unknown SMS provider');
    const raw = rawOf(req);
    const ok = verifySmsCallback(provider, {
      secret: deps.config.SMS_WEBHOOK_SECRET,
      previousSecret: deps.config.SMS_WEBHOOK_SECRET_PREVIOUS,
      signature: req.headers['x-simulator-signature'],
      token: req.query.token,
      rawBody: raw,
      nowSec: Math.floor(deps.now().getTime() / 1000),
    });
    if (!ok) throw invalidSignature(deps.metrics, `sms-${provider}`);
    if (ok === 'previous') deps.metrics.webhookEvents.inc({ source: `sms-${provider}`, outcome: 'previous_secret' });
    // The body is validated only once the sender is known to be the provider.
    req.body = jsonOf(raw);
    return { provider, raw };
  };

  router.post('/sms/:provider/status', rawBody(deps, 'sms'), async (req, res) => {
    const { provider, raw } = verified(req);
    if (isBatch(req.body)) {
      // The batched form: one signature over every report in the body.
      const { reports } = parseBody(req, deliveryReportBatchSchema);
      const result = await ingestDeliveryReports(deps, `sms-${provider}`, reports, raw);
      res.status(200).json(result);
      return;
    }
    const report = parseBody(req, deliveryReportSchema);
    const result = await ingestWebhookEvent(
      deps,
      { provider: `sms-${provider}`, eventId: deliveryReportEventId(report), topic: 'status', payload: report },
      // Reports come by the thousand per second during a campaign: they share
      // one bulk job per 100 ms instead of a job each (docs/webhooks.md).
      { enqueue: () => enqueueDeliveryReportsJob(deps.producer, deps.now().getTime()) },
    );
    res.status(200).json(result.duplicate ? { duplicate: true } : { received: true });
  });

  router.post('/sms/:provider/inbound', rawBody(deps, 'sms'), async (req, res) => {
    const { provider } = verified(req);
    const message = parseBody(req, inboundMessageSchema);
    const result = await ingestWebhookEvent(
      deps,
      { provider: `sms-${provider}`, eventId: inboundEventId(message), topic: 'inbound', payload: message },
      { inline: deps },
    );
    res.status(200).json(result.duplicate ? { duplicate: true } : { received: true });
  });

  return router;
}
