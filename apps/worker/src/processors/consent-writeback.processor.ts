import { UnrecoverableError } from 'bullmq';
import { failConsentWriteback, writeBackConsent } from '../../../../domain/consent/write-back-consent';
import { ShopifyAdminError } from '../../../../domain/shops/access-token/admin-graphql';
import { defineHandler } from './types';

export const consentWritebackHandler = defineHandler('contact.consent-writeback.v1', async (payload, { deps, job }) => {
  try {
    return await writeBackConsent(deps, { contactId: payload.contactId, recordId: payload.recordId });
  } catch (err) {
    // A refusal is final (already marked failed); anything else is retried
    // with the job's bounded backoff, and the last attempt marks it failed.
    if (err instanceof ShopifyAdminError && !err.retryable) throw new UnrecoverableError(err.message);
    if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) await failConsentWriteback(deps, payload, err);
    throw err;
  }
});
