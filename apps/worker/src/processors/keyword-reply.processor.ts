import { UnrecoverableError } from 'bullmq';
import { sendKeywordReply } from '../../../../domain/compliance/send-keyword-reply';
import { ProviderRequestError } from '../../../../domain/messaging/providers/provider';
import { shopTokenCipher } from '../../../../domain/shops/access-token/token-cipher';
import { limitedProvider } from '../limited-provider';
import { defineHandler } from './types';
import { runAgainIn } from './run-again-in';

// Through the same provider and the same segments-per-second budget as campaign sends.
export const keywordReplyHandler = defineHandler('keyword.reply.v1', async (payload, { deps, job, token }) => {
  const provider = limitedProvider(deps);
  if (!provider) throw new UnrecoverableError('no SMS provider configured for this worker');
  let result;
  try {
    result = await sendKeywordReply(
      { db: deps.db, provider, now: deps.now, leaseMs: deps.config.SEND_LEASE_MS, cipher: shopTokenCipher(deps.config), metrics: deps.metrics, logger: deps.logger },
      payload.replyId,
    );
  } catch (err) {
    // Refused as a request: recorded failed, the same request would fail again.
    if (err instanceof ProviderRequestError) throw new UnrecoverableError(err.message);
    throw err;
  }
  if (result.outcome === 'leased' && token) {
    return runAgainIn(job, token, result.until.getTime() - deps.now().getTime());
  }
  return result;
});
