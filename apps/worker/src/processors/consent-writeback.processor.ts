import { UnrecoverableError } from 'bullmq';
import { failConsentWriteback, writeBackConsent, writebackAttempts } from '../../../../domain/consent/write-back-consent';
import { ShopifyAdminError } from '../../../../domain/shops/access-token/admin-graphql';
import { defineHandler } from './types';
import { runAgainIn } from './run-again-in';

/** Throttled waits one write-back may take (each as long as Shopify's bucket needs) before it fails. */
const MAX_THROTTLED = 50;

export const consentWritebackHandler = defineHandler('contact.consent-writeback.v1', async (payload, { deps, job, token }) => {
  try {
    return await writeBackConsent(deps, { contactId: payload.contactId, recordId: payload.recordId });
  } catch (err) {
    // A refusal is final (already marked failed).
    if (err instanceof ShopifyAdminError && !err.retryable) throw new UnrecoverableError(err.message);
    // Throttling waits as long as Shopify's bucket needs without spending an
    // attempt (a big import's write-backs drain at the shop's rate), bounded
    // by the row's count; other errors use the job's exponential backoff.
    if (err instanceof ShopifyAdminError && err.kind === 'throttled' && token && (await writebackAttempts(deps.db, payload)) < MAX_THROTTLED) {
      return runAgainIn(job, token, err.details.retryAfterMs ?? 1_000);
    }
    if ((err instanceof ShopifyAdminError && err.kind === 'throttled') || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
      await failConsentWriteback(deps, payload, err);
      throw new UnrecoverableError((err as Error).message);
    }
    throw err;
  }
});
