import {
  ActionList,
  Badge,
  Banner,
  Checkbox,
  BlockStack,
  Box,
  Button,
  Card,
  FormLayout,
  InlineGrid,
  InlineStack,
  Layout,
  List,
  Modal,
  Page,
  Popover,
  SkeletonBodyText,
  Text,
  TextField,
} from '@shopify/polaris';
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError, newIdempotencyKey } from '../api/client';
import type { Audience, Campaign, EnqueueResult, Preview, Shop } from '../api/types';
import { audienceOf, EMPTY_AUDIENCE_FIELDS, fieldsOf, type AudienceField, type AudienceFields } from '../audience';
import { ApiErrorBanner } from '../components/ApiErrorBanner';
import { Counter } from '../components/Counter';
import { dateTime, num } from '../format';
import { useApi, useDebounced } from '../hooks';
import { inQuietHours, utcToZoned, zonedToUtc } from '../zoned-time';
import { href, useRouter } from '../router';

const PLACEHOLDERS: { label: string; text: string }[] = [
  { label: 'First name (fallback "there")', text: '{{firstName|there}}' },
  { label: 'Last name', text: '{{lastName}}' },
  { label: 'Shop name', text: '{{shopName}}' },
];

const UNTITLED = 'Untitled campaign';

interface Draft extends AudienceFields {
  name: string;
  body: string;
  schedule: boolean;
  ignoreSmartSending: boolean;
  date: string;
  time: string;
}

/** The schedule as loaded: an untouched date and time send it back exactly (the fields hold whole minutes only). */
interface LoadedSchedule {
  date: string;
  time: string;
  at: string;
}

function payloadOf(d: Draft, timeZone: string, loaded: Audience, schedule?: LoadedSchedule): { name: string; body: string; audience: Audience; scheduledAt: string | null; ignoreSmartSending: boolean } {
  const untouched = d.schedule && schedule !== undefined && d.date === schedule.date && d.time === schedule.time;
  const at = untouched ? new Date(schedule.at) : d.schedule ? zonedToUtc(d.date, d.time, timeZone) : null;
  return { name: d.name.trim() || UNTITLED, body: d.body, audience: audienceOf(d, loaded, timeZone).audience, scheduledAt: at && at.getTime() > Date.now() ? at.toISOString() : null, ignoreSmartSending: d.ignoreSmartSending };
}

/** 400 paths from the api to the field that shows them (a range's own refusal names its max, else its min). */
const AUDIENCE_PATHS: [string, AudienceField][] = [
  ['audience.ordersCount.max', 'maxOrders'],
  ['audience.ordersCount', 'minOrders'],
  ['audience.amountSpent.max', 'maxSpent'],
  ['audience.amountSpent', 'minSpent'],
  ['audience.lastOrderAt.to', 'lastTo'],
  ['audience.lastOrderAt', 'lastFrom'],
  ['audience', 'tags'],
];

function fieldOf(path: string): keyof Draft | undefined {
  if (path === 'name') return 'name';
  if (path === 'body') return 'body';
  if (path === 'scheduledAt') return 'date';
  return AUDIENCE_PATHS.find(([prefix]) => path === prefix || path.startsWith(`${prefix}.`))?.[1];
}

export default function ComposerPage({ campaignId }: { campaignId?: string }) {
  const { navigate } = useRouter();
  const [draft, setDraft] = useState<Draft>({ name: '', body: '', schedule: false, ignoreSmartSending: false, date: '', time: '', ...EMPTY_AUDIENCE_FIELDS });
  const baseAudience = useRef<Audience>({});
  const baseSchedule = useRef<LoadedSchedule | undefined>(undefined);
  // A scheduled campaign is edited in place (the api re-sizes its reservation
  // on each save, 402 when the wallet cannot cover more); it keeps a future
  // time: moving it is allowed, dropping it is not (cancel it instead).
  const [wasScheduled, setWasScheduled] = useState(false);
  const shop = useApi<Shop>('/shop');
  const timeZone = shop.data?.timezone ?? 'UTC';
  const zone = useRef(timeZone);
  zone.current = timeZone;
  const [loaded, setLoaded] = useState(!campaignId);
  const shopReady = shop.data !== undefined || shop.error !== undefined;
  const [preview, setPreview] = useState<Preview>();
  const [previewing, setPreviewing] = useState(false);
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<keyof Draft, string>>>({});
  const [error, setError] = useState<unknown>();
  const [menuOpen, setMenuOpen] = useState(false);
  const [confirm, setConfirm] = useState<{ key: string; preview?: Preview } | null>(null);
  const [sending, setSending] = useState(false);
  const bodyRef = useRef<HTMLDivElement>(null);
  // The draft is saved before it can be previewed: created once (one key for
  // the creation), then patched as it changes. Saves run one after another.
  const saved = useRef<{ id?: string; createKey: string }>({ id: campaignId, createKey: newIdempotencyKey() });
  const chain = useRef<Promise<unknown>>(Promise.resolve());
  const seq = useRef(0);

  useEffect(() => {
    // After the shop: a scheduled time is shown in its timezone.
    if (!campaignId || !shopReady) return;
    api<Campaign>('GET', `/campaigns/${campaignId}`)
      .then((c) => {
        if (c.status !== 'draft' && c.status !== 'scheduled') {
          navigate(`/campaigns/${c.id}`);
          return;
        }
        const when = c.scheduledAt ? utcToZoned(c.scheduledAt, zone.current) : { date: '', time: '' };
        baseAudience.current = c.audience;
        baseSchedule.current = c.scheduledAt ? { ...when, at: c.scheduledAt } : undefined;
        setWasScheduled(c.status === 'scheduled');
        setDraft({
          name: c.name === UNTITLED ? '' : c.name,
          body: c.body,
          schedule: Boolean(c.scheduledAt),
          ignoreSmartSending: c.ignoreSmartSending ?? false,
          ...when,
          ...fieldsOf(c.audience, zone.current),
        });
        setLoaded(true);
      })
      .catch(setError);
  }, [campaignId, shopReady, navigate]);

  const save = useCallback((d: Draft): Promise<string | undefined> => {
    const mine = ++seq.current;
    const run = chain.current.then(async () => {
      const body = payloadOf(d, zone.current, baseAudience.current, baseSchedule.current);
      try {
        if (!saved.current.id) {
          const c = await api<Campaign>('POST', '/campaigns', { body, idempotencyKey: saved.current.createKey });
          saved.current.id = c.id;
          // A reload keeps editing this draft instead of starting another.
          window.history.replaceState(null, '', href(`/campaigns/${c.id}/edit`));
        } else {
          await api<Campaign>('PATCH', `/campaigns/${saved.current.id}`, { body, idempotencyKey: newIdempotencyKey() });
        }
        if (mine === seq.current) setFieldErrors({});
        return saved.current.id;
      } catch (err) {
        // A refused creation was not stored under its key unless it failed
        // otherwise than on validation: the next attempt is another request.
        if (!saved.current.id && !(err instanceof ApiError && err.status === 400)) saved.current.createKey = newIdempotencyKey();
        if (mine === seq.current) {
          if (err instanceof ApiError && err.status === 400) {
            const errs: Partial<Record<keyof Draft, string>> = {};
            for (const [path, msg] of Object.entries(err.fieldErrors())) {
              const f = fieldOf(path);
              if (f && !errs[f]) errs[f] = msg;
            }
            setFieldErrors(errs);
            if (Object.keys(errs).length === 0) setError(err);
          } else setError(err);
        }
        return undefined;
      }
    });
    chain.current = run;
    return run;
  }, []);

  const debounced = useDebounced(draft, 300);
  useEffect(() => {
    if (!loaded || !shopReady || !debounced.body.trim()) {
      setPreview(undefined);
      return;
    }
    const mine = seq.current + 1;
    setPreviewing(true);
    void save(debounced).then(async (id) => {
      if (!id) {
        if (mine === seq.current) setPreviewing(false);
        return;
      }
      try {
        // Who smart sending and quiet hours hold back costs a pass over the audience: asked for only when confirming.
        const p = await api<Preview>('POST', `/campaigns/${id}/preview`, { body: { sendTiming: false } });
        if (mine === seq.current) setPreview(p);
      } catch (err) {
        if (mine === seq.current) setError(err);
      } finally {
        if (mine === seq.current) setPreviewing(false);
      }
    });
  }, [debounced, loaded, shopReady, save]);

  const insert = (text: string) => {
    const ta = bodyRef.current?.querySelector('textarea');
    const start = ta?.selectionStart ?? draft.body.length;
    const end = ta?.selectionEnd ?? draft.body.length;
    setDraft((d) => ({ ...d, body: d.body.slice(0, start) + text + d.body.slice(end) }));
    setMenuOpen(false);
    requestAnimationFrame(() => {
      ta?.focus();
      ta?.setSelectionRange(start + text.length, start + text.length);
    });
  };

  const openConfirm = async () => {
    setError(undefined);
    // One key per intent to send: every click and retry inside this modal is the same request.
    const key = newIdempotencyKey();
    setConfirm({ key });
    const id = await save(draft);
    if (!id) {
      setConfirm(null);
      return;
    }
    try {
      const p = await api<Preview>('POST', `/campaigns/${id}/preview`, { body: {} });
      setPreview(p);
      setConfirm((c) => (c && c.key === key ? { key, preview: p } : c));
    } catch (err) {
      setConfirm(null);
      setError(err);
    }
  };

  // The key makes a repeat harmless on the server; this only spares the request.
  const inFlight = useRef(false);
  const send = async () => {
    if (!confirm || inFlight.current || !saved.current.id) return;
    inFlight.current = true;
    setSending(true);
    try {
      const r = await api<EnqueueResult>('POST', `/campaigns/${saved.current.id}/enqueue`, { body: {}, idempotencyKey: confirm.key });
      navigate(`/campaigns/${r.campaign.id}`);
    } catch (err) {
      setConfirm(null);
      setError(err);
    } finally {
      inFlight.current = false;
      setSending(false);
    }
  };

  const untouchedSchedule = baseSchedule.current && draft.date === baseSchedule.current.date && draft.time === baseSchedule.current.time;
  const scheduledAt = draft.schedule ? (untouchedSchedule ? new Date(baseSchedule.current!.at) : zonedToUtc(draft.date, draft.time, timeZone)) : null;
  const scheduleError = draft.schedule && (!scheduledAt || scheduledAt.getTime() <= Date.now()) ? 'Choose a date and time in the future' : undefined;
  const quiet = shop.data?.quietHours;
  const inQuiet = Boolean(draft.schedule && scheduledAt && quiet && inQuietHours(draft.time, quiet));
  const localAudienceErrors = audienceOf(draft, baseAudience.current, timeZone).errors;
  const audienceError = (f: AudienceField): string | undefined => localAudienceErrors[f] ?? fieldErrors[f];
  const audienceInvalid = (Object.keys(EMPTY_AUDIENCE_FIELDS) as AudienceField[]).some((f) => audienceError(f));
  const canSend = Boolean(draft.body.trim()) && !fieldErrors.body && !audienceInvalid && !scheduleError;
  const set = (f: AudienceField) => (v: string) => setDraft((d) => ({ ...d, [f]: v }));

  return (
    <Page
      title={campaignId || saved.current.id ? 'Edit campaign' : 'New campaign'}
      backAction={{ content: 'Campaigns', url: href('/campaigns') }}
      primaryAction={{ content: draft.schedule ? 'Review and schedule' : 'Review and send', disabled: !canSend || !loaded, onAction: () => void openConfirm() }}
    >
      <Layout>
        {error ? (
          <Layout.Section>
            <ApiErrorBanner error={error} onDismiss={() => setError(undefined)} />
          </Layout.Section>
        ) : null}
        <Layout.Section>
          <Card>
            {!loaded ? (
              <SkeletonBodyText lines={6} />
            ) : (
              <FormLayout>
                <TextField
                  label="Campaign name"
                  value={draft.name}
                  onChange={(name) => setDraft((d) => ({ ...d, name }))}
                  placeholder={UNTITLED}
                  autoComplete="off"
                  maxLength={200}
                  error={fieldErrors.name}
                />
                <BlockStack gap="200">
                  <InlineStack align="space-between" blockAlign="end">
                    <Text as="span" variant="bodyMd">
                      Message
                    </Text>
                    <Popover
                      active={menuOpen}
                      onClose={() => setMenuOpen(false)}
                      activator={
                        <Button disclosure onClick={() => setMenuOpen((o) => !o)}>
                          Insert placeholder
                        </Button>
                      }
                    >
                      <ActionList items={PLACEHOLDERS.map((p) => ({ content: p.label, helpText: p.text, onAction: () => insert(p.text) }))} />
                    </Popover>
                  </InlineStack>
                  <div ref={bodyRef}>
                    <TextField
                      label="Message"
                      labelHidden
                      value={draft.body}
                      onChange={(body) => setDraft((d) => ({ ...d, body }))}
                      multiline={5}
                      autoComplete="off"
                      maxLength={1600}
                      error={fieldErrors.body}
                      helpText="Placeholders are filled per contact; a contact without the value gets the fallback after |."
                    />
                  </div>
                </BlockStack>
                <TextField
                  label="Audience tags"
                  value={draft.tags}
                  onChange={set('tags')}
                  autoComplete="off"
                  placeholder="vip, newsletter"
                  helpText="Subscribed contacts with any of these tags (comma separated). Empty: every subscribed contact."
                  error={audienceError('tags')}
                />
              </FormLayout>
            )}
          </Card>
          <Box paddingBlockStart="400">
            <Card>
              <BlockStack gap="300">
                <BlockStack gap="100">
                  <Text as="h2" variant="headingMd">
                    Order filters
                  </Text>
                  <Text as="p" variant="bodySm" tone="subdued">
                    Optional, from each contact&apos;s Shopify orders; every bound is included. A contact who never ordered has 0 orders and no last order date. The recipients count updates as you type.
                  </Text>
                </BlockStack>
                {!loaded ? (
                  <SkeletonBodyText lines={4} />
                ) : (
                  <FormLayout>
                    <FormLayout.Group condensed>
                      <TextField label="Orders, at least" type="number" min={0} value={draft.minOrders} onChange={set('minOrders')} autoComplete="off" error={audienceError('minOrders')} />
                      <TextField label="Orders, at most" type="number" min={0} value={draft.maxOrders} onChange={set('maxOrders')} autoComplete="off" error={audienceError('maxOrders')} />
                    </FormLayout.Group>
                    <FormLayout.Group condensed>
                      <TextField label="Amount spent, at least" type="text" inputMode="decimal" value={draft.minSpent} onChange={set('minSpent')} autoComplete="off" placeholder="0.00" error={audienceError('minSpent')} />
                      <TextField label="Amount spent, at most" type="text" inputMode="decimal" value={draft.maxSpent} onChange={set('maxSpent')} autoComplete="off" placeholder="0.00" error={audienceError('maxSpent')} helpText="In your store's currency." />
                    </FormLayout.Group>
                    <FormLayout.Group condensed>
                      <TextField label="Last order on or after" type="date" value={draft.lastFrom} onChange={set('lastFrom')} autoComplete="off" error={audienceError('lastFrom')} />
                      <TextField label="Last order on or before" type="date" value={draft.lastTo} onChange={set('lastTo')} autoComplete="off" error={audienceError('lastTo')} helpText={`Whole days in ${timeZone}.`} />
                    </FormLayout.Group>
                  </FormLayout>
                )}
              </BlockStack>
            </Card>
          </Box>
          <Box paddingBlockStart="400">
          <Card>
            <BlockStack gap="300">
              <Checkbox
                label="Send even to contacts texted recently (ignore smart sending)"
                checked={draft.ignoreSmartSending}
                onChange={(ignoreSmartSending) => setDraft((d) => ({ ...d, ignoreSmartSending }))}
                helpText="Smart sending skips contacts who got a marketing text within the shop's window (Settings)."
              />
              {wasScheduled ? (
                <Text as="p" variant="bodyMd">
                  <span data-testid="scheduled-note">
                    Scheduled: edits are saved as you type, and the credits it holds follow them. Move it to another time below ({timeZone}); to stop it, cancel it on its page.
                  </span>
                </Text>
              ) : (
                <Checkbox label="Schedule for later" checked={draft.schedule} onChange={(schedule) => setDraft((d) => ({ ...d, schedule }))} helpText={`In the shop's timezone (${timeZone}). Without a schedule the campaign is sent when you confirm.`} />
              )}
              {draft.schedule ? (
                <InlineGrid columns={2} gap="300">
                  <TextField label="Date" type="date" value={draft.date} onChange={(date) => setDraft((d) => ({ ...d, date }))} autoComplete="off" error={scheduleError ?? fieldErrors.date} />
                  <TextField label="Time" type="time" value={draft.time} onChange={(time) => setDraft((d) => ({ ...d, time }))} autoComplete="off" />
                </InlineGrid>
              ) : null}
              {inQuiet && quiet ? (
                <Banner tone="warning" title="This time is in your quiet hours">
                  <p>
                    Nothing is sent between {quiet.start} and {quiet.end} ({timeZone}): the messages wait until {quiet.end}. Choose another time or change the quiet hours in Settings.
                  </p>
                </Banner>
              ) : null}
            </BlockStack>
          </Card>
          </Box>
        </Layout.Section>
        <Layout.Section variant="oneThird">
          <Card>
            <BlockStack gap="300">
              <InlineStack align="space-between">
                <Text as="h2" variant="headingMd">
                  Preview
                </Text>
                {previewing ? <Badge tone="info">Updating…</Badge> : null}
              </InlineStack>
              <Box padding="300" background="bg-surface-secondary" borderRadius="300">
                <div data-testid="preview-text" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
                  <Text as="p">{preview?.text ?? (draft.body ? '…' : 'Your message appears here as contacts receive it.')}</Text>
                </div>
              </Box>
              <InlineGrid columns={2} gap="200">
                <Counter label="Characters" value={preview?.characters} testId="count-characters" />
                <Counter label="Encoding" value={preview?.encoding} testId="count-encoding" />
                <Counter label="Segments" value={preview?.segments} testId="count-segments" />
                <Counter label="Recipients" value={preview?.recipients} testId="count-recipients" />
                <Counter label="Credits" value={preview?.credits} testId="count-credits" />
              </InlineGrid>
              {preview?.encoding === 'UCS-2' ? (
                <Text as="p" variant="bodySm" tone="caution">
                  A character outside the GSM alphabet (an emoji or an accent) makes every segment hold 70 characters instead of 160.
                </Text>
              ) : null}
            </BlockStack>
          </Card>
        </Layout.Section>
      </Layout>
      <Modal
        open={confirm !== null}
        onClose={() => (sending ? undefined : setConfirm(null))}
        title={scheduledAt ? 'Schedule this campaign?' : 'Send this campaign?'}
        primaryAction={{ content: scheduledAt ? 'Schedule' : 'Send now', onAction: () => void send(), loading: sending, disabled: !confirm?.preview || sending }}
        secondaryActions={[{ content: 'Cancel', onAction: () => setConfirm(null), disabled: sending }]}
      >
        <Modal.Section>
          {confirm?.preview ? (
            <BlockStack gap="300">
              <Text as="p">
                <span data-testid="confirm-summary">
                  {num(confirm.preview.recipients)} recipients will receive this message, using up to {num(confirm.preview.credits)} credits (
                  {confirm.preview.segments} segment{confirm.preview.segments === 1 ? '' : 's'} each). Credits not used are returned when the campaign ends.
                  {scheduledAt ? ` It is sent on ${dateTime(scheduledAt.toISOString(), timeZone)} (${timeZone}); the credits are reserved now.` : ''}
                </span>
              </Text>
              <SendTiming preview={confirm.preview} windowHours={draft.ignoreSmartSending ? undefined : shop.data?.smartSending?.windowHours} scheduled={Boolean(scheduledAt)} />
              <TrackedLinks preview={confirm.preview} />
            </BlockStack>
          ) : (
            <SkeletonBodyText lines={2} />
          )}
        </Modal.Section>
      </Modal>
    </Page>
  );
}

/** What smart sending and quiet hours would do if the campaign went out now (estimates: the send decides per recipient). */
function SendTiming({ preview, windowHours, scheduled }: { preview: Preview; windowHours: number | undefined; scheduled: boolean }) {
  if (preview.frequencyCapped == null || preview.recipientsAfterCap == null || preview.deferredNow == null) return null;
  const recently = windowHours === undefined ? 'recently' : `in the last ${num(windowHours)} hours`;
  return (
    <BlockStack gap="100">
      <Text as="h3" variant="headingSm">
        {scheduled ? 'Smart sending and quiet hours (as of now)' : 'Smart sending and quiet hours'}
      </Text>
      <List type="bullet">
        <List.Item>
          <span data-testid="confirm-after-cap">
            {num(preview.recipientsAfterCap)} of {num(preview.recipients)} recipients after smart sending
          </span>
          {preview.frequencyCapped > 0 ? (
            <span data-testid="confirm-capped">
              {` (${num(preview.frequencyCapped)} got a campaign message ${recently}: skipped, their credits returned)`}
            </span>
          ) : null}
        </List.Item>
        <List.Item>
          <span data-testid="confirm-deferred">
            {preview.deferredNow === 0
              ? 'Nobody is in their quiet hours'
              : `${num(preview.deferredNow)} in their quiet hours: their messages wait until their window opens`}
          </span>
        </List.Item>
        {preview.quietHoursSkipped ? (
          <List.Item>
            {/* Waiting for them would be forever: the send skips them (quiet_hours) and charges nothing. */}
            <span data-testid="confirm-quiet-skipped">
              {`${num(preview.quietHoursSkipped)} whose quiet hours never end (no time within a week that your quiet hours and the US/Canadian 08:00–21:00 rule both allow): skipped, their credits returned`}
            </span>
          </List.Item>
        ) : null}
      </List>
    </BlockStack>
  );
}

/** Each tracked link of the body, and what replaces it in every message. */
function TrackedLinks({ preview }: { preview: Preview }) {
  const links = preview.links ?? [];
  if (links.length === 0) return null;
  return (
    <BlockStack gap="100">
      <Text as="h3" variant="headingSm">
        Tracked links
      </Text>
      <div data-testid="confirm-links" style={{ overflowWrap: 'anywhere' }}>
        <List type="number">
          {links.map((url, i) => (
            <List.Item key={`${i}-${url}`}>
              {url} → a short link of {preview.shortLinkLength === undefined ? 'fixed length' : `${num(preview.shortLinkLength)} characters`}, one per recipient
            </List.Item>
          ))}
        </List>
      </div>
      <Text as="p" variant="bodySm" tone="subdued">
        Clicks and the orders that follow them are counted on the campaign&apos;s page.
      </Text>
    </BlockStack>
  );
}
