import { Router, type Request } from 'express';
import { ingestWebhookEvent } from '../../../../domain/webhooks/ingest-event';
import { inboundEventId, inboundMessageSchema } from '../../../../domain/webhooks/sms-payloads';
import { isSmsCallbackProvider, type SmsCallbackProvider } from '../../../../domain/webhooks/verify-sms-callback';
import { currentTraceId } from '../../../../lib/context';
import { AppError } from '../../../../lib/errors';
import type { ApiDeps } from '../deps';
import { EXACT_ROUTING } from '../router-options';
import { parseBody } from '../validation';
import { receiveDeliveryReports, verifiedCallbackBody } from './delivery-report-callback';
import { rawBody, rawOf } from './raw-body';

/**
 * Delivery reports and inbound texts. Reports are stored for the bulk drain
 * (one shared job per 100 ms), one per request or many under one signature
 * (`{"reports": [...]}`); most single reports never reach this router (the
 * report fast path answers them first, report-fast-path.ts). Inbound texts
 * are processed inline, before the 200: a STOP is in force by the time the
 * provider hears back, so a batch claimed a moment later already skips the
 * number; the job is the fallback if that fails.
 */
export function smsWebhookRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);

  const verified = (req: Request): SmsCallbackProvider => {
    const provider = String(req.params.provider);
    if (!isSmsCallbackProvider(provider)) throw new AppError('NOT_FOUND', 'Unknown SMS provider');
    // The body is validated only once the sender is known to be the provider.
    req.body = verifiedCallbackBody(deps, provider, { signature: req.headers['x-simulator-signature'], token: req.query.token }, rawOf(req));
    return provider;
  };

  // The requests the report fast path (report-fast-path.ts) leaves to the full stack: the same outcome.
  router.post('/sms/:provider/status', rawBody(deps, 'sms'), async (req, res) => {
    const provider = verified(req);
    res.status(200).json(await receiveDeliveryReports(deps, provider, req.body, rawOf(req), String(res.locals.requestId ?? currentTraceId() ?? '')));
  });

  router.post('/sms/:provider/inbound', rawBody(deps, 'sms'), async (req, res) => {
    const provider = verified(req);
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
