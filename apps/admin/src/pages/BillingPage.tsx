import { Badge, Banner, BlockStack, Button, Card, IndexTable, InlineGrid, InlineStack, Layout, Page, SkeletonBodyText, Text } from '@shopify/polaris';
import { useEffect, useRef, useState } from 'react';
import { api, ApiError, newIdempotencyKey, type Page as ListPage } from '../api/client';
import type { CreditPack, Wallet, WalletTransaction } from '../api/types';
import { redirectTop } from '../bridge';
import { ApiErrorBanner } from '../components/ApiErrorBanner';
import { dateTime, money, num, unitPrice } from '../format';
import { useApi } from '../hooks';
import { CursorPager } from '../components/CursorPager';
import { useRouter } from '../router';

const TYPE_LABEL: Record<WalletTransaction['type'], string> = {
  purchase: 'Purchase',
  debit: 'Messages sent',
  refund: 'Refund',
  grant: 'Grant',
  adjustment: 'Adjustment',
};

/** How long the page keeps asking for the wallet after Stripe sends the merchant back, and how often. */
const CONFIRM_FOR_MS = 60_000;
const CONFIRM_POLL_MS = 3_000;

type CheckoutReturn = 'success' | 'cancelled';

/** Stripe's return (`?checkout=success|cancelled`, docs/api.md "Billing"), once: dismissing it drops it from the address. */
function useCheckoutReturn(): [CheckoutReturn | null, () => void] {
  const { search } = useRouter();
  const [value, setValue] = useState<CheckoutReturn | null>(() => {
    const v = search.get('checkout');
    return v === 'success' || v === 'cancelled' ? v : null;
  });
  const dismiss = () => {
    setValue(null);
    const url = new URL(window.location.href);
    url.searchParams.delete('checkout');
    window.history.replaceState(window.history.state, '', url);
  };
  return [value, dismiss];
}

/** A 4xx the api will answer the same way again; 408, 409 REQUEST_IN_PROGRESS and 429 are "not yet", not "no". */
function isDefinitiveRefusal(err: unknown): boolean {
  if (!(err instanceof ApiError) || err.status < 400 || err.status >= 500) return false;
  return err.status !== 408 && err.status !== 429 && err.code !== 'REQUEST_IN_PROGRESS';
}

export default function BillingPage() {
  const [checkout, dismissCheckout] = useCheckoutReturn();
  // Stripe returns the merchant before its webhook has granted the pack: the
  // wallet is asked again every few seconds until the balance moves (or a
  // minute has passed), so the credits show without a reload.
  const [confirmUntil] = useState(() => (checkout === 'success' ? Date.now() + CONFIRM_FOR_MS : 0));
  const firstBalance = useRef<number | undefined>(undefined);
  const wallet = useApi<Wallet>('/wallet', {
    pollMs: confirmUntil > 0 ? CONFIRM_POLL_MS : undefined,
    keepPolling: (w) => {
      firstBalance.current ??= w.balance;
      return Date.now() < confirmUntil && w.balance === firstBalance.current;
    },
  });
  const packs = useApi<{ data: CreditPack[] }>('/billing/packs');
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const history = useApi<ListPage<WalletTransaction>>(`/wallet/transactions?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
  // A balance that moved while the page is open has a ledger row the history has not shown yet.
  const shownBalance = useRef<number | undefined>(undefined);
  const balance = wallet.data?.balance;
  const reloadHistory = history.reload;
  useEffect(() => {
    if (balance === undefined) return;
    if (shownBalance.current !== undefined && shownBalance.current !== balance) reloadHistory();
    shownBalance.current = balance;
  }, [balance, reloadHistory]);
  const held = wallet.data?.held ?? 0;
  const [buying, setBuying] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  // One key per purchase intent: a double click or a retry opens one checkout.
  const keys = useRef(new Map<string, string>());

  const buy = async (packId: string) => {
    if (buying) return;
    setBuying(packId);
    setError(undefined);
    let key = keys.current.get(packId);
    if (!key) {
      key = newIdempotencyKey();
      keys.current.set(packId, key);
    }
    try {
      const { checkoutUrl } = await api<{ checkoutUrl: string; sessionId: string }>('POST', '/billing/checkout', { body: { packId }, idempotencyKey: key });
      redirectTop(checkoutUrl);
    } catch (err) {
      // A network error or a 5xx may hide a session the api did create: the
      // retry keeps the key, so it gets that session back instead of a second
      // one. Only a definitive refusal ends this purchase intent.
      if (isDefinitiveRefusal(err)) keys.current.delete(packId);
      setError(err);
      setBuying(null);
    }
  };

  return (
    <Page title="Billing" subtitle="Credits pay for messages: one credit per SMS segment.">
      <Layout>
        {checkout === 'success' ? (
          <Layout.Section>
            <Banner tone="info" title="Confirming your purchase" onDismiss={dismissCheckout}>
              <p>Stripe is confirming your payment. Your credits are added as soon as it has, usually within a minute: this page updates by itself.</p>
            </Banner>
          </Layout.Section>
        ) : checkout === 'cancelled' ? (
          <Layout.Section>
            <Banner tone="warning" title="Checkout cancelled" onDismiss={dismissCheckout}>
              <p>No payment was taken and no credits were added. You can buy a pack whenever you are ready.</p>
            </Banner>
          </Layout.Section>
        ) : null}
        {error || packs.error || wallet.error ? (
          <Layout.Section>
            <ApiErrorBanner error={error ?? packs.error ?? wallet.error} onDismiss={error ? () => setError(undefined) : undefined} />
          </Layout.Section>
        ) : null}
        <Layout.Section>
          <Card>
            <InlineStack gap="800">
              <Text as="p" variant="headingMd">
                Available: <span data-testid="wallet-available">{wallet.data ? num(wallet.data.available) : '…'}</span> credits
              </Text>
              <Text as="p" tone="subdued">
                Balance {wallet.data ? num(wallet.data.balance) : '…'} · reserved for campaigns {wallet.data ? num(wallet.data.reserved - held) : '…'}
                {held > 0 ? (
                  <>
                    {' '}
                    · held while a payment is disputed <span data-testid="wallet-held">{num(held)}</span>
                  </>
                ) : null}
              </Text>
            </InlineStack>
          </Card>
        </Layout.Section>
        <Layout.Section>
          <BlockStack gap="300">
            <Text as="h2" variant="headingMd">
              Credit packs
            </Text>
            {packs.data ? (
              <InlineGrid columns={{ xs: 1, md: 3 }} gap="400">
                {packs.data.data.map((p) => (
                  <Card key={p.id}>
                    <BlockStack gap="200">
                      <Text as="h3" variant="headingSm">
                        {p.id.charAt(0).toUpperCase() + p.id.slice(1)}
                      </Text>
                      <Text as="p" variant="headingLg">
                        {num(p.credits)} credits
                      </Text>
                      <Text as="p" tone="subdued">
                        {money(p.amount, p.currency.toUpperCase())} · {unitPrice(p.amount / p.credits, p.currency.toUpperCase())} per credit
                      </Text>
                      <Button variant="primary" onClick={() => void buy(p.id)} loading={buying === p.id} disabled={buying !== null && buying !== p.id} accessibilityLabel={`Buy ${num(p.credits)} credits`}>
                        Buy
                      </Button>
                    </BlockStack>
                  </Card>
                ))}
              </InlineGrid>
            ) : (
              <Card>
                <SkeletonBodyText lines={3} />
              </Card>
            )}
          </BlockStack>
        </Layout.Section>
        <Layout.Section>
          <Card padding="0">
            <div style={{ padding: 'var(--p-space-300)' }}>
              <Text as="h2" variant="headingMd">
                Credit history
              </Text>
            </div>
            <IndexTable
              resourceName={{ singular: 'transaction', plural: 'transactions' }}
              itemCount={history.data?.data.length ?? 0}
              selectable={false}
              loading={history.loading && !history.data}
              emptyState={
                <div style={{ padding: 'var(--p-space-400)' }}>
                  <Text as="p" tone="subdued">
                    No purchases yet.
                  </Text>
                </div>
              }
              headings={[{ title: 'Date' }, { title: 'Type' }, { title: 'Credits', alignment: 'end' }, { title: 'Balance after', alignment: 'end' }]}
            >
              {(history.data?.data ?? []).map((t, i) => (
                <IndexTable.Row key={t.id} id={t.id} position={i}>
                  <IndexTable.Cell>{dateTime(t.createdAt)}</IndexTable.Cell>
                  <IndexTable.Cell>
                    <Badge tone={t.type === 'purchase' || t.type === 'grant' ? 'success' : t.type === 'refund' ? 'warning' : undefined}>{TYPE_LABEL[t.type]}</Badge>
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    <Text as="span" alignment="end" numeric>
                      {t.amount > 0 ? `+${num(t.amount)}` : num(t.amount)}
                    </Text>
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    <Text as="span" alignment="end" numeric>
                      {num(t.balanceAfter)}
                    </Text>
                  </IndexTable.Cell>
                </IndexTable.Row>
              ))}
            </IndexTable>
            <CursorPager cursors={cursors} setCursors={setCursors} nextCursor={history.data?.nextCursor} />
          </Card>
        </Layout.Section>
      </Layout>
    </Page>
  );
}
