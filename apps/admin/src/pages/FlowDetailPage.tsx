import { Banner, BlockStack, Card, ChoiceList, InlineStack, Layout, List, Modal, Page, SkeletonBodyText, Text, TextField } from '@shopify/polaris';
import { useRef, useState } from 'react';
import { api, ApiError, newIdempotencyKey, type Page as ListPage } from '../api/client';
import type { FlowDetail, FlowRun, FlowStats } from '../api/flow-types';
import type { Contact } from '../api/types';
import { toast } from '../bridge';
import { ApiErrorBanner } from '../components/ApiErrorBanner';
import { FlowStatsCard } from '../components/FlowStatsCard';
import { FlowStatusBadge } from '../components/FlowStatusBadge';
import { smartSendingText, stepText, triggerText } from '../flows';
import { dateTime, num } from '../format';
import { useApi, useDebounced } from '../hooks';
import { href, useRouter } from '../router';

type Action = 'activate' | 'pause' | 'delete';

const VERB: Record<Action | 'test', string> = { activate: 'activated', pause: 'paused', delete: 'deleted', test: 'tested' };

/** "steps.2.body" → "Step 3". */
function where(path: string): string {
  const m = /^steps\.(\d+)/.exec(path);
  return m ? `Step ${Number(m[1]) + 1}: ` : '';
}

/** A refused state change in the merchant's words: what is wrong, and what to do. */
function FlowActionError({ error, action, onDismiss }: { error: unknown; action: Action | 'test'; onDismiss(): void }) {
  if (error instanceof ApiError && error.code === 'INVALID_STATE') {
    const d = (error.details ?? {}) as { status?: string };
    // Only a live flow is refused: a paused flow's runs never finish on their own, so deleting it ends them.
    const text = action === 'delete' && d.status === 'live' ? 'A live flow cannot be deleted: pause it first.' : `${error.message}.`;
    return (
      <Banner tone="warning" title={`This flow cannot be ${VERB[action]} now`} onDismiss={onDismiss}>
        <p>{text}</p>
      </Banner>
    );
  }
  if (error instanceof ApiError && error.status === 400 && Array.isArray(error.details)) {
    const problems = error.details as { path?: string; message?: string }[];
    return (
      <Banner tone="critical" title={action === 'activate' ? 'This flow cannot go live yet' : action === 'test' ? 'This flow cannot be tested yet' : error.message} onDismiss={onDismiss}>
        <List>
          {problems.map((p, i) => (
            <List.Item key={i}>
              {where(p.path ?? '')}
              {p.message}
            </List.Item>
          ))}
        </List>
      </Banner>
    );
  }
  return <ApiErrorBanner error={error} onDismiss={onDismiss} />;
}

export default function FlowDetailPage({ flowId }: { flowId: string }) {
  const { navigate } = useRouter();
  const flow = useApi<FlowDetail>(`/flows/${flowId}`, { pollMs: 5000 });
  const stats = useApi<FlowStats>(`/flows/${flowId}/stats`, { pollMs: 10_000 });
  // The state change being confirmed, and the key of that one intent (reused by the client's retries).
  const [confirm, setConfirm] = useState<{ action: Action; key: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<{ action: Action; error: unknown } | null>(null);
  const [testing, setTesting] = useState(false);
  const [lastTest, setLastTest] = useState<{ run: FlowRun; contact: string } | null>(null);
  const inFlight = useRef(false);
  const f = flow.data;
  const inProgress = f?.versions.reduce((n, v) => n + v.runs.active, 0) ?? 0;

  const run = async () => {
    if (!confirm || inFlight.current) return;
    inFlight.current = true;
    setBusy(true);
    const { action, key } = confirm;
    try {
      if (action === 'delete') {
        await api<void>('DELETE', `/flows/${flowId}`, { idempotencyKey: key });
        toast('Flow deleted');
        navigate('/flows');
        return;
      }
      await api<FlowDetail>('POST', `/flows/${flowId}/${action}`, { body: {}, idempotencyKey: key });
      toast(action === 'activate' ? 'Flow is live' : 'Flow paused');
      setActionError(null);
      stats.reload();
    } catch (err) {
      // Already gone (deleted in another tab) is what was asked for.
      if (action === 'delete' && err instanceof ApiError && err.status === 404) navigate('/flows');
      else setActionError({ action, error: err });
    } finally {
      inFlight.current = false;
      setBusy(false);
      setConfirm(null);
      flow.reload();
    }
  };

  const open = (action: Action) => setConfirm({ action, key: newIdempotencyKey() });
  const live = f?.status === 'live';
  const v = f?.currentVersion;

  return (
    <Page
      title={f?.name ?? 'Flow'}
      titleMetadata={f ? <FlowStatusBadge status={f.status} /> : undefined}
      subtitle={f ? `Trigger: ${triggerText(f.trigger)}` : undefined}
      backAction={{ content: 'Flows', url: href('/flows') }}
      primaryAction={f ? (live ? { content: 'Pause', onAction: () => open('pause') } : { content: 'Activate', onAction: () => open('activate') }) : undefined}
      secondaryActions={
        f
          ? [
              { content: 'Edit', url: href(`/flows/${flowId}/edit`) },
              { content: 'Send a test', onAction: () => setTesting(true) },
              { content: 'Delete', destructive: true, onAction: () => open('delete') },
            ]
          : []
      }
    >
      <Layout>
        {flow.error ? (
          <Layout.Section>
            <ApiErrorBanner error={flow.error} />
          </Layout.Section>
        ) : null}
        {actionError ? (
          <Layout.Section>
            <FlowActionError error={actionError.error} action={actionError.action} onDismiss={() => setActionError(null)} />
          </Layout.Section>
        ) : null}
        {lastTest ? (
          <Layout.Section>
            <Banner tone="success" title={`Test run started for ${lastTest.contact}`} onDismiss={() => setLastTest(null)}>
              <p data-testid="test-run">
                It runs version {lastTest.run.version} step by step like any other run, obeying consent, quiet hours and smart sending
                {lastTest.run.nextDueAt ? `; its next step is due ${dateTime(lastTest.run.nextDueAt)}` : ''}.
              </p>
            </Banner>
          </Layout.Section>
        ) : null}
        <Layout.Section>{f ? <FlowStatsCard flow={f} stats={stats.data} loading={stats.loading && !stats.error} /> : null}</Layout.Section>
        <Layout.Section>
          {!f ? (
            <Card>
              <SkeletonBodyText lines={6} />
            </Card>
          ) : (
            <BlockStack gap="400">
              <Card>
                <BlockStack gap="300">
                  <Text as="h2" variant="headingMd">
                    Steps{v ? ` (version ${v.version})` : ''}
                  </Text>
                  {v && v.steps.length > 0 ? (
                    <List type="number">
                      {v.steps.map((s, i) => (
                        <List.Item key={i}>
                          <span style={{ overflowWrap: 'anywhere' }}>{stepText(s)}</span>
                        </List.Item>
                      ))}
                    </List>
                  ) : (
                    <Text as="p" tone="subdued">
                      No step yet: edit the flow to add a text.
                    </Text>
                  )}
                  {v ? (
                    <Text as="p" tone="subdued">
                      {v.exitCondition.orderPlaced ? 'A run ends when the contact places an order' : 'Orders do not end a run'}; a STOP reply ends every run of the contact. {smartSendingText(v.smartSending)}.
                    </Text>
                  ) : null}
                </BlockStack>
              </Card>
            </BlockStack>
          )}
        </Layout.Section>
        <Layout.Section variant="oneThird">
          {f ? (
            <Card>
              <BlockStack gap="300">
                <Text as="h2" variant="headingMd">
                  Versions
                </Text>
                <Text as="p" variant="bodySm" tone="subdued">
                  Saving a live flow makes a new version; runs in progress finish on the version they started with.
                </Text>
                <BlockStack gap="200">
                  {f.versions.map((ver) => (
                    <InlineStack key={ver.id} align="space-between" gap="200" wrap={false}>
                      <Text as="span">
                        Version {ver.version}
                        {ver.id === f.currentVersion?.id ? ' (current)' : ''}
                        <Text as="span" variant="bodySm" tone="subdued">
                          {' '}
                          · {dateTime(ver.createdAt)}
                        </Text>
                      </Text>
                      <Text as="span" tone="subdued">
                        {num(ver.runs.active)} in progress / {num(ver.runs.total)} run{ver.runs.total === 1 ? '' : 's'}
                      </Text>
                    </InlineStack>
                  ))}
                </BlockStack>
                <Text as="p" variant="bodySm" tone="subdued">
                  Created {dateTime(f.createdAt)} · updated {dateTime(f.updatedAt)}
                  {f.activatedAt ? ` · activated ${dateTime(f.activatedAt)}` : ''}
                </Text>
              </BlockStack>
            </Card>
          ) : null}
        </Layout.Section>
      </Layout>
      <Modal
        open={confirm !== null}
        onClose={() => (busy ? undefined : setConfirm(null))}
        title={confirm?.action === 'activate' ? 'Activate this flow?' : confirm?.action === 'pause' ? 'Pause this flow?' : 'Delete this flow?'}
        primaryAction={{
          content: confirm?.action === 'activate' ? 'Activate' : confirm?.action === 'pause' ? 'Pause flow' : 'Delete flow',
          destructive: confirm?.action === 'delete',
          onAction: () => void run(),
          loading: busy,
        }}
        secondaryActions={[{ content: 'Cancel', onAction: () => setConfirm(null), disabled: busy }]}
      >
        <Modal.Section>
          <Text as="p">
            {confirm?.action === 'activate'
              ? `From now on, every time the trigger (${f ? triggerText(f.trigger).toLowerCase() : ''}) happens for a subscribed contact, a run starts. Nothing that happened before is replayed.`
              : confirm?.action === 'pause'
                ? 'No new run starts while the flow is paused. Runs in progress wait where they are and go on when you activate it again.'
                : `“${f?.name ?? ''}” and its history will be deleted${inProgress > 0 ? `, and its ${inProgress === 1 ? 'run' : `${num(inProgress)} runs`} in progress will end without sending anything more` : ''}. This cannot be undone.`}
          </Text>
        </Modal.Section>
      </Modal>
      {testing ? (
        <TestModal
          flowId={flowId}
          onClose={() => setTesting(false)}
          onStarted={(r, contact) => {
            setTesting(false);
            setLastTest({ run: r, contact });
            toast('Test run started');
            flow.reload();
            stats.reload();
          }}
        />
      ) : null}
    </Page>
  );
}

function contactLabel(c: Contact): string {
  const name = [c.firstName, c.lastName].filter(Boolean).join(' ');
  return name ? `${name} (${c.phone})` : c.phone;
}

/** Choose a subscribed contact and start one run for them now, whatever the flow's status. */
function TestModal({ flowId, onClose, onStarted }: { flowId: string; onClose(): void; onStarted(r: FlowRun, contact: string): void }) {
  const [query, setQuery] = useState('');
  const q = useDebounced(query.trim(), 300);
  const params = new URLSearchParams({ limit: '10', consent: 'subscribed' });
  if (q) params.set('q', q);
  const contacts = useApi<ListPage<Contact>>(`/contacts?${params.toString()}`);
  const [chosen, setChosen] = useState<Contact | null>(null);
  // One key per (opening, contact): a double click or a retry starts one run.
  const key = useRef(newIdempotencyKey());
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<unknown>();
  const inFlight = useRef(false);

  const choose = (id: string | undefined) => {
    const c = contacts.data?.data.find((x) => x.id === id) ?? null;
    if (c?.id !== chosen?.id) key.current = newIdempotencyKey();
    setChosen(c);
    setError(undefined);
  };

  const send = async () => {
    if (!chosen || inFlight.current) return;
    inFlight.current = true;
    setSending(true);
    try {
      const r = await api<FlowRun>('POST', `/flows/${flowId}/test`, { body: { contactId: chosen.id }, idempotencyKey: key.current });
      onStarted(r, contactLabel(chosen));
    } catch (err) {
      // A refusal is stored under its key: asking again is a new request.
      key.current = newIdempotencyKey();
      setError(err);
    } finally {
      inFlight.current = false;
      setSending(false);
    }
  };

  const rows = contacts.data?.data ?? [];
  const notSubscribed = error instanceof ApiError && error.code === 'INVALID_STATE';
  return (
    <Modal
      open
      onClose={() => (sending ? undefined : onClose())}
      title="Send a test"
      primaryAction={{ content: 'Start test run', onAction: () => void send(), loading: sending, disabled: !chosen }}
      secondaryActions={[{ content: 'Cancel', onAction: onClose, disabled: sending }]}
    >
      <Modal.Section>
        <BlockStack gap="300">
          <Text as="p">The contact goes through the current version now, as if the trigger had just happened: waits, texts and conditions as written. Credits are used as for any text.</Text>
          {error ? (
            notSubscribed ? (
              <Banner tone="warning" title="This contact cannot get a test">
                <p>Only subscribed contacts get texts. {error instanceof Error ? error.message : ''}</p>
              </Banner>
            ) : (
              <FlowActionError error={error} action="test" onDismiss={() => setError(undefined)} />
            )
          ) : null}
          <TextField label="Search contacts" value={query} onChange={setQuery} autoComplete="off" placeholder="Phone, email or name" clearButton onClearButtonClick={() => setQuery('')} />
          {contacts.error ? <ApiErrorBanner error={contacts.error} /> : null}
          {contacts.data && rows.length === 0 ? (
            <Text as="p" tone="subdued">
              No subscribed contact matches.
            </Text>
          ) : null}
          {rows.length > 0 ? (
            <ChoiceList title="Subscribed contacts" choices={rows.map((c) => ({ label: contactLabel(c), value: c.id }))} selected={chosen ? [chosen.id] : []} onChange={(v) => choose(v[0])} />
          ) : null}
        </BlockStack>
      </Modal.Section>
    </Modal>
  );
}
