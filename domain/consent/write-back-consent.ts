import { ShopifyAdminError, adminGraphql } from '../shops/access-token/admin-graphql';
import type { ShopifyDeps } from '../shops/access-token/deps';

// Writes a contact's consent, changed here, back to its Shopify customer. The
// job carries only the consent record that queued it: the contact's CURRENT
// state is written, so a late or repeated job writes the newest state.

const MUTATION = `mutation consentWriteback($input: CustomerSmsMarketingConsentUpdateInput!) {
  customerSmsMarketingConsentUpdate(input: $input) {
    customer { id smsMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt } }
    userErrors { field message code }
  }
}`;

export type WritebackOutcome = 'written' | 'skipped' | 'superseded';

interface Target {
  shop_id: string;
  customer_id: string | null;
  sms_consent: string;
  erased_at: Date | null;
  record_id: bigint | null;
  status: string | null;
  collected_at: Date | null;
}

interface MutationData {
  customerSmsMarketingConsentUpdate?: { userErrors?: { field?: string[] | null; message?: string; code?: string | null }[] } | null;
}

/** Shopify's customer GID (contacts store what the sync received; a bare number is accepted too). */
export function customerGid(id: string): string {
  return id.startsWith('gid://') ? id : `gid://shopify/Customer/${id}`;
}

/** Our state as Shopify's SMS marketing consent input; `null`: nothing to write (pending). */
export function shopifyConsentInput(state: string, collectedAt: Date | null): Record<string, unknown> | null {
  const consentUpdatedAt = (collectedAt ?? new Date()).toISOString();
  if (state === 'subscribed') return { marketingState: 'SUBSCRIBED', marketingOptInLevel: 'SINGLE_OPT_IN', consentUpdatedAt };
  if (state === 'unsubscribed') return { marketingState: 'UNSUBSCRIBED', consentUpdatedAt };
  return null;
}

/**
 * One write-back attempt. Returns what happened; throws ShopifyAdminError when
 * Shopify did not answer (retryable: the caller retries, and calls
 * failConsentWriteback once retries are exhausted) or refused the write
 * (`failed`: already recorded as failed here).
 */
export async function writeBackConsent(deps: ShopifyDeps, j: { contactId: string; recordId: string }): Promise<WritebackOutcome> {
  const { db, metrics } = deps;
  const [t] = await db.$queryRaw<Target[]>`
    SELECT c.shop_id, c.shopify_customer_id AS customer_id, c.sms_consent, c.erased_at, w.record_id, w.status,
           (SELECT r.collected_at FROM contact_consent_records r WHERE r.contact_id = c.id ORDER BY r.id DESC LIMIT 1) AS collected_at
      FROM contacts c LEFT JOIN shopify_consent_writebacks w ON w.contact_id = c.id
     WHERE c.id = ${j.contactId}::uuid`;
  if (!t || t.record_id === null) {
    metrics.shopifyConsentWritebacks.inc({ outcome: 'skipped' });
    return 'skipped';
  }
  // A newer change queued its own job, which writes the same current state.
  if (t.record_id > BigInt(j.recordId)) {
    metrics.shopifyConsentWritebacks.inc({ outcome: 'superseded' });
    return 'superseded';
  }
  const input = shopifyConsentInput(t.sms_consent, t.collected_at);
  if (t.status === 'done' || t.erased_at !== null || !t.customer_id || !input) {
    if (t.status === 'pending') await settle(deps, j, 'skipped', null, null);
    metrics.shopifyConsentWritebacks.inc({ outcome: 'skipped' });
    return 'skipped';
  }
  let data: MutationData;
  try {
    ({ data } = await adminGraphql<MutationData>(deps, t.shop_id, MUTATION, {
      input: { customerId: customerGid(t.customer_id), smsMarketingConsent: input },
    }));
  } catch (err) {
    if (err instanceof ShopifyAdminError && !err.retryable) {
      await recordFailure(deps, j, err.message);
    } else {
      await db.$executeRaw`
        UPDATE shopify_consent_writebacks SET attempts = attempts + 1, last_error = ${errorText(err)}, updated_at = now()
         WHERE contact_id = ${j.contactId}::uuid AND record_id = ${BigInt(j.recordId)} AND status = 'pending'`;
      metrics.shopifyConsentWritebacks.inc({ outcome: 'retried' });
    }
    throw err;
  }
  const userErrors = data.customerSmsMarketingConsentUpdate?.userErrors ?? [];
  if (userErrors.length > 0) {
    const message = `Shopify refused the consent update: ${userErrors.map((e) => `${e.code ?? 'ERROR'} ${e.message ?? ''}`.trim()).join('; ')}`;
    await recordFailure(deps, j, message);
    throw new ShopifyAdminError('failed', message, { errors: userErrors });
  }
  await settle(deps, j, 'done', String(input.marketingState), null);
  metrics.shopifyConsentWritebacks.inc({ outcome: 'written' });
  return 'written';
}

/** Retryable errors met so far (the row counts them, throttling included). */
export async function writebackAttempts(db: ShopifyDeps['db'], j: { contactId: string; recordId: string }): Promise<number> {
  const [row] = await db.$queryRaw<{ attempts: number }[]>`
    SELECT attempts FROM shopify_consent_writebacks WHERE contact_id = ${j.contactId}::uuid AND record_id = ${BigInt(j.recordId)}`;
  return row?.attempts ?? 0;
}

/** Retries exhausted (or the job gave up): the write-back is marked failed, for the on-call to see. */
export async function failConsentWriteback(deps: ShopifyDeps, j: { contactId: string; recordId: string }, err: unknown): Promise<void> {
  await recordFailure(deps, j, `retries exhausted: ${errorText(err)}`);
}

async function recordFailure(deps: ShopifyDeps, j: { contactId: string; recordId: string }, message: string): Promise<void> {
  const n = await settle(deps, j, 'failed', null, message);
  if (n > 0) deps.metrics.shopifyConsentWritebacks.inc({ outcome: 'failed' });
  deps.logger.warn({ contactId: j.contactId, recordId: j.recordId, error: message }, 'shopify consent write-back failed');
}

// Guarded by the record id: a job never settles a newer change's row.
function settle(deps: ShopifyDeps, j: { contactId: string; recordId: string }, status: 'done' | 'skipped' | 'failed', written: string | null, error: string | null): Promise<number> {
  return deps.db.$executeRaw`
    UPDATE shopify_consent_writebacks
       SET status = ${status}, written_state = COALESCE(${written}, written_state), last_error = COALESCE(${error === null ? null : error.slice(0, 500)}, last_error),
           attempts = attempts + 1, updated_at = now()
     WHERE contact_id = ${j.contactId}::uuid AND record_id = ${BigInt(j.recordId)} AND status = 'pending'`;
}

function errorText(err: unknown): string {
  return (err instanceof ShopifyAdminError ? `${err.kind}: ${err.message}` : String((err as Error)?.message ?? err)).slice(0, 480);
}
