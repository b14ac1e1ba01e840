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
  const { metrics } = deps;
  const t = await readTarget(deps, j.contactId);
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
  let written: Record<string, unknown>;
  try {
    written = await writeNewest(deps, j.contactId, t, t.customer_id, input);
  } catch (err) {
    if (err instanceof ShopifyAdminError && !err.retryable) {
      await recordFailure(deps, j, err.message);
    } else {
      await deps.db.$executeRaw`
        UPDATE shopify_consent_writebacks SET attempts = attempts + 1, last_error = ${errorText(err)}, updated_at = now()
         WHERE contact_id = ${j.contactId}::uuid AND record_id = ${BigInt(j.recordId)} AND status = 'pending'`;
      metrics.shopifyConsentWritebacks.inc({ outcome: 'retried' });
    }
    throw err;
  }
  await settle(deps, j, 'done', String(written.marketingState), null);
  metrics.shopifyConsentWritebacks.inc({ outcome: 'written' });
  return 'written';
}

async function readTarget(deps: ShopifyDeps, contactId: string): Promise<Target | undefined> {
  const [t] = await deps.db.$queryRaw<Target[]>`
    SELECT c.shop_id, c.shopify_customer_id AS customer_id, c.sms_consent, c.erased_at, w.record_id, w.status,
           (SELECT r.collected_at FROM contact_consent_records r WHERE r.contact_id = c.id ORDER BY r.id DESC LIMIT 1) AS collected_at
      FROM contacts c LEFT JOIN shopify_consent_writebacks w ON w.contact_id = c.id
     WHERE c.id = ${contactId}::uuid`;
  return t;
}

/** One customerSmsMarketingConsentUpdate; Shopify's refusal (userErrors) is thrown as `failed`. */
async function mutate(deps: ShopifyDeps, shopId: string, customerId: string, input: Record<string, unknown>): Promise<void> {
  const { data } = await adminGraphql<MutationData>(deps, shopId, MUTATION, {
    input: { customerId: customerGid(customerId), smsMarketingConsent: input },
  });
  const userErrors = data.customerSmsMarketingConsentUpdate?.userErrors ?? [];
  if (userErrors.length > 0) {
    const message = `Shopify refused the consent update: ${userErrors.map((e) => `${e.code ?? 'ERROR'} ${e.message ?? ''}`.trim()).join('; ')}`;
    throw new ShopifyAdminError('failed', message, { errors: userErrors });
  }
}

/** Writes again after a newer change met while ours was in flight, at most this often (then that change's job has it). */
const MAX_REWRITES = 5;

/**
 * Writes `input`, then checks whether a newer change was made here meanwhile.
 * Jobs of one contact run concurrently and Shopify applies their calls in
 * the order they arrive: the job of a newer change (a STOP) may land its
 * write before this older one, which would leave Shopify with the older
 * state. A newer change committed before its job read the state, so before
 * that job's write, so before this write if that one landed first: checked
 * once this write has landed, it is always seen, and the contact's current
 * state is written again. Returns what was written last.
 */
async function writeNewest(deps: ShopifyDeps, contactId: string, first: Target, customerId: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  let read = first;
  let written = input;
  for (let round = 0; ; round++) {
    await mutate(deps, read.shop_id, customerId, written);
    const now = await readTarget(deps, contactId);
    if (!now || now.record_id === null || read.record_id === null || now.record_id <= read.record_id) return written;
    const next = shopifyConsentInput(now.sms_consent, now.collected_at);
    if (now.erased_at !== null || now.customer_id !== customerId || !next || round >= MAX_REWRITES) return written;
    read = now;
    written = next;
  }
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
