import { Banner, BlockStack, Card, Checkbox, FormLayout, InlineGrid, Layout, Page, Select, SkeletonBodyText, TextField } from '@shopify/polaris';
import { useEffect, useMemo, useState } from 'react';
import { api, ApiError, newIdempotencyKey } from '../api/client';
import type { Shop } from '../api/types';
import { toast } from '../bridge';
import { ApiErrorBanner } from '../components/ApiErrorBanner';
import { KeywordRepliesCard } from '../components/KeywordRepliesCard';
import { ShopSyncCard } from '../components/ShopSyncCard';
import { useApi } from '../hooks';
import { useQuietHoursWarning } from '../quiet-hours-warning';

interface Form {
  senderId: string;
  timezone: string;
  quietStart: string;
  quietEnd: string;
  optOutFooter: boolean;
  smartEnabled: boolean;
  smartWindowHours: string;
  clickWindowHours: string;
  viewWindowHours: string;
}

type Field = keyof Form;

function formOf(s: Shop): Form {
  return { senderId: s.senderId, timezone: s.timezone, quietStart: s.quietHours.start, quietEnd: s.quietHours.end, optOutFooter: s.optOutFooter, smartEnabled: s.smartSending?.enabled ?? true, smartWindowHours: String(s.smartSending?.windowHours ?? 16), clickWindowHours: String(s.attribution?.clickWindowHours ?? 120), viewWindowHours: String(s.attribution?.viewWindowHours ?? 24) };
}

function fieldOf(path: string): Field | undefined {
  if (path === 'senderId') return 'senderId';
  if (path === 'timezone') return 'timezone';
  if (path === 'quietHours.start' || path === 'quietHours') return 'quietStart';
  if (path === 'quietHours.end') return 'quietEnd';
  if (path === 'optOutFooter') return 'optOutFooter';
  if (path === 'smartSending.enabled') return 'smartEnabled';
  if (path === 'smartSending.windowHours' || path === 'smartSending') return 'smartWindowHours';
  if (path === 'attribution.clickWindowHours' || path === 'attribution') return 'clickWindowHours';
  if (path === 'attribution.viewWindowHours') return 'viewWindowHours';
  return undefined;
}

// An empty or non-numeric field goes as text, so the api's refusal names the field (Number('') would be 0, a valid view window).
const hours = (v: string): number | string => (v.trim() === '' || !Number.isFinite(Number(v)) ? v : Number(v));

const zones = (): string[] => {
  const intl = Intl as { supportedValuesOf?: (k: string) => string[] };
  const all = intl.supportedValuesOf?.('timeZone') ?? [];
  return all.includes('UTC') ? all : ['UTC', ...all];
};

export default function SettingsPage() {
  const shop = useApi<Shop>('/shop');
  const [form, setForm] = useState<Form>();
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const timezones = useMemo(zones, []);

  useEffect(() => {
    if (shop.data) setForm(formOf(shop.data));
  }, [shop.data]);

  const dirty = form && shop.data && JSON.stringify(form) !== JSON.stringify(formOf(shop.data));
  // The api's verdict on the quiet hours in the form (the send path's own search), saved or not yet.
  const noUsSendingTime = useQuietHoursWarning(shop.data, form?.quietStart, form?.quietEnd);
  const set = <K extends Field>(k: K, v: Form[K]) => {
    setForm((f) => (f ? { ...f, [k]: v } : f));
    setErrors((e) => ({ ...e, [k]: undefined }));
    setSaved(false);
  };

  const save = async () => {
    if (!form || saving) return;
    setSaving(true);
    setError(undefined);
    try {
      const next = await api<Shop>('PATCH', '/shop', {
        body: { senderId: form.senderId.trim(), timezone: form.timezone, quietHours: { start: form.quietStart, end: form.quietEnd }, optOutFooter: form.optOutFooter, smartSending: { enabled: form.smartEnabled, windowHours: Number(form.smartWindowHours) }, attribution: { clickWindowHours: hours(form.clickWindowHours), viewWindowHours: hours(form.viewWindowHours) } },
        idempotencyKey: newIdempotencyKey(),
      });
      setErrors({});
      setSaved(true);
      setForm(formOf(next));
      shop.reload();
      toast('Settings saved');
    } catch (err) {
      const fields: Partial<Record<Field, string>> = {};
      if (err instanceof ApiError) {
        for (const [path, msg] of Object.entries(err.fieldErrors())) {
          const f = fieldOf(path);
          if (f && !fields[f]) fields[f] = msg;
        }
      }
      setErrors(fields);
      if (Object.keys(fields).length === 0) setError(err);
    } finally {
      setSaving(false);
    }
  };

  return (
    <Page
      title="Settings"
      primaryAction={{ content: 'Save', onAction: () => void save(), loading: saving, disabled: !dirty }}
      secondaryActions={dirty && shop.data ? [{ content: 'Discard', onAction: () => { setForm(formOf(shop.data!)); setErrors({}); } }] : []}
    >
      <Layout>
        {error || shop.error ? (
          <Layout.Section>
            <ApiErrorBanner error={error ?? shop.error} onDismiss={error ? () => setError(undefined) : undefined} />
          </Layout.Section>
        ) : null}
        {saved ? (
          <Layout.Section>
            <Banner tone="success" title="Settings saved" onDismiss={() => setSaved(false)} />
          </Layout.Section>
        ) : null}
        <Layout.AnnotatedSection title="Sender" description="The name or number your messages come from. A name is 1–11 letters or digits; a number is 3–15 digits.">
          <Card>
            {form ? (
              <TextField label="Sender id" value={form.senderId} onChange={(v) => set('senderId', v)} autoComplete="off" maxLength={15} error={errors.senderId} />
            ) : (
              <SkeletonBodyText lines={2} />
            )}
          </Card>
        </Layout.AnnotatedSection>
        <Layout.AnnotatedSection title="Quiet hours" description="No message is sent between these times in each recipient's local time (the contact's time zone, else the one their phone number implies, else the shop's timezone); sends wait until the window ends. Whatever you set, US and Canadian numbers are never texted before 08:00 or after 21:00 local time.">
          <Card>
            {form ? (
              <FormLayout>
                {noUsSendingTime ? (
                  <Banner tone="warning" title="US and Canadian customers can never be texted with these quiet hours">
                    <p>{noUsSendingTime.message}</p>
                    <p>Leave some time between 08:00 and 21:00 outside your quiet hours to reach them.</p>
                  </Banner>
                ) : null}
                <Select label="Timezone" options={timezones} value={form.timezone} onChange={(v) => set('timezone', v)} error={errors.timezone} />
                <InlineGrid columns={2} gap="300">
                  <TextField label="Quiet from" type="time" value={form.quietStart} onChange={(v) => set('quietStart', v)} autoComplete="off" error={errors.quietStart} />
                  <TextField label="Quiet until" type="time" value={form.quietEnd} onChange={(v) => set('quietEnd', v)} autoComplete="off" error={errors.quietEnd} />
                </InlineGrid>
              </FormLayout>
            ) : (
              <SkeletonBodyText lines={3} />
            )}
          </Card>
        </Layout.AnnotatedSection>
        <Layout.AnnotatedSection title="Smart sending" description="Skip contacts who already got a marketing text from you recently, so nobody gets two campaigns back to back. A campaign can opt out in the composer.">
          <Card>
            {form ? (
              <FormLayout>
                <Checkbox label="Don't text a contact who got a marketing message recently" checked={form.smartEnabled} onChange={(v) => set('smartEnabled', v)} error={errors.smartEnabled} />
                <TextField
                  label="Window (hours)"
                  type="number"
                  min={1}
                  max={168}
                  value={form.smartWindowHours}
                  onChange={(v) => set('smartWindowHours', v)}
                  disabled={!form.smartEnabled}
                  helpText="1 to 168 hours (one week)."
                  autoComplete="off"
                  error={errors.smartWindowHours}
                />
              </FormLayout>
            ) : (
              <SkeletonBodyText lines={2} />
            )}
          </Card>
        </Layout.AnnotatedSection>
        <Layout.AnnotatedSection
          title="Attribution"
          description="Which campaign earns an order: the one whose link the customer clicked last within the click window, else the one last delivered to them within the view window. Each order counts for one campaign at most."
        >
          <Card>
            {form ? (
              <FormLayout>
                <FormLayout.Group condensed>
                  <TextField
                    label="Click attribution (hours)"
                    type="number"
                    min={1}
                    max={720}
                    value={form.clickWindowHours}
                    onChange={(v) => set('clickWindowHours', v)}
                    helpText="1 to 720 hours (30 days). Default 120 (5 days)."
                    autoComplete="off"
                    error={errors.clickWindowHours}
                  />
                  <TextField
                    label="View attribution (hours)"
                    type="number"
                    min={0}
                    max={168}
                    value={form.viewWindowHours}
                    onChange={(v) => set('viewWindowHours', v)}
                    helpText="0 to 168 hours (one week); 0 counts clicks only. Default 24."
                    autoComplete="off"
                    error={errors.viewWindowHours}
                  />
                </FormLayout.Group>
              </FormLayout>
            ) : (
              <SkeletonBodyText lines={2} />
            )}
          </Card>
        </Layout.AnnotatedSection>
        <Layout.AnnotatedSection title="Opt-out footer" description="Carriers require an opt-out instruction in marketing messages.">
          <Card>
            {form ? (
              <BlockStack gap="200">
                <Checkbox
                  label='Add "Reply STOP to opt out" to messages that have no opt-out instruction'
                  checked={form.optOutFooter}
                  onChange={(v) => set('optOutFooter', v)}
                  error={errors.optOutFooter}
                />
              </BlockStack>
            ) : (
              <SkeletonBodyText lines={1} />
            )}
          </Card>
        </Layout.AnnotatedSection>
        <Layout.AnnotatedSection
          title="Keyword replies"
          description="Customers who text STOP, START or HELP get one confirmation each. Word them your way; carriers require the parts named under each field."
        >
          <KeywordRepliesCard />
        </Layout.AnnotatedSection>
        <Layout.AnnotatedSection
          title="Customers from Shopify"
          description="Your store's customers with a phone become contacts with their SMS consent. A local opt-out (STOP) is never lifted by a resync."
        >
          <ShopSyncCard timeZone={shop.data?.timezone} />
        </Layout.AnnotatedSection>
      </Layout>
    </Page>
  );
}
