import {
  Badge,
  Banner,
  BlockStack,
  Button,
  Card,
  Checkbox,
  DropZone,
  FormLayout,
  IndexTable,
  InlineGrid,
  InlineStack,
  Layout,
  Modal,
  Page,
  ProgressBar,
  Select,
  Text,
  TextField,
} from '@shopify/polaris';
import { useEffect, useRef, useState } from 'react';
import { api, ApiError, newIdempotencyKey, type Page as ListPage } from '../api/client';
import type { Consent, Contact, ContactImport, ImportRejection } from '../api/types';
import { toast } from '../bridge';
import { ApiErrorBanner } from '../components/ApiErrorBanner';
import { parseCsv, toCsv } from '../csv';
import { dateTime, num } from '../format';
import { useApi, useDebounced } from '../hooks';
import { CursorPager } from '../components/CursorPager';

const CONSENT_OPTIONS = [
  { label: 'Any consent', value: '' },
  { label: 'Subscribed', value: 'subscribed' },
  { label: 'Pending', value: 'pending' },
  { label: 'Unsubscribed', value: 'unsubscribed' },
];

function ConsentBadge({ c }: { c: Contact }) {
  if (c.optedOutAt) return <Badge tone="critical">Opted out</Badge>;
  if (c.smsConsent === 'subscribed') return <Badge tone="success">Subscribed</Badge>;
  if (c.smsConsent === 'unsubscribed') return <Badge tone="warning">Unsubscribed</Badge>;
  return <Badge>Pending</Badge>;
}

export default function ContactsPage() {
  const [query, setQuery] = useState('');
  const [consent, setConsent] = useState('');
  const [cursors, setCursors] = useState<string[]>([]);
  const [editing, setEditing] = useState<Contact | 'new' | null>(null);
  const [importing, setImporting] = useState(false);
  const q = useDebounced(query.trim(), 300);
  useEffect(() => setCursors([]), [q, consent]);
  const cursor = cursors[cursors.length - 1];
  const params = new URLSearchParams({ limit: '20' });
  if (q) params.set('q', q);
  if (consent) params.set('consent', consent);
  if (cursor) params.set('cursor', cursor);
  const list = useApi<ListPage<Contact>>(`/contacts?${params.toString()}`);
  const rows = list.data?.data ?? [];

  return (
    <Page
      title="Contacts"
      primaryAction={{ content: 'Add contact', onAction: () => setEditing('new') }}
      secondaryActions={[{ content: 'Import CSV', onAction: () => setImporting(true) }]}
    >
      <Layout>
        {importing ? (
          <Layout.Section>
            <ImportCard
              onClose={() => setImporting(false)}
              onDone={() => {
                setCursors([]);
                list.reload();
              }}
            />
          </Layout.Section>
        ) : null}
        {list.error ? (
          <Layout.Section>
            <ApiErrorBanner error={list.error} />
          </Layout.Section>
        ) : null}
        <Layout.Section>
          <Card padding="0">
            <div style={{ padding: 'var(--p-space-300)' }}>
              <InlineGrid columns={['twoThirds', 'oneThird']} gap="300">
                <TextField label="Search contacts" labelHidden placeholder="Search by phone, email or name" value={query} onChange={setQuery} autoComplete="off" clearButton onClearButtonClick={() => setQuery('')} />
                <Select label="Consent" labelHidden options={CONSENT_OPTIONS} value={consent} onChange={setConsent} />
              </InlineGrid>
            </div>
            <IndexTable
              resourceName={{ singular: 'contact', plural: 'contacts' }}
              itemCount={rows.length}
              selectable={false}
              loading={list.loading}
              emptyState={
                <div style={{ padding: 'var(--p-space-400)' }}>
                  <Text as="p" tone="subdued">
                    {q || consent ? 'No contact matches.' : 'No contacts yet: add one or import a CSV file.'}
                  </Text>
                </div>
              }
              headings={[{ title: 'Name' }, { title: 'Phone' }, { title: 'Email' }, { title: 'Consent' }, { title: 'Tags' }, { title: 'Time zone' }, { title: 'Added' }]}
            >
              {rows.map((c, i) => (
                <IndexTable.Row key={c.id} id={c.id} position={i} onClick={() => setEditing(c)}>
                  <IndexTable.Cell>
                    <Button variant="plain" onClick={() => setEditing(c)}>
                      {[c.firstName, c.lastName].filter(Boolean).join(' ') || '(no name)'}
                    </Button>
                  </IndexTable.Cell>
                  <IndexTable.Cell>{c.phone}</IndexTable.Cell>
                  <IndexTable.Cell>{c.email ?? ''}</IndexTable.Cell>
                  <IndexTable.Cell>
                    <ConsentBadge c={c} />
                  </IndexTable.Cell>
                  <IndexTable.Cell>{c.tags.join(', ')}</IndexTable.Cell>
                  <IndexTable.Cell>
                    {c.timezone ? (
                      c.timezone
                    ) : (
                      <Text as="span" tone="subdued">
                        From phone
                      </Text>
                    )}
                  </IndexTable.Cell>
                  <IndexTable.Cell>{dateTime(c.createdAt)}</IndexTable.Cell>
                </IndexTable.Row>
              ))}
            </IndexTable>
            <CursorPager cursors={cursors} setCursors={setCursors} nextCursor={list.data?.nextCursor} />
          </Card>
        </Layout.Section>
      </Layout>
      {editing ? (
        <ContactModal
          contact={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            list.reload();
          }}
        />
      ) : null}
    </Page>
  );
}

interface ContactForm {
  phone: string;
  firstName: string;
  lastName: string;
  email: string;
  tags: string;
  smsConsent: Consent;
  timezone: string;
}

// What the form offers: a new contact starts with no consent ("pending"):
// subscribing someone is a claim that they agreed to marketing texts, so it
// is never the default and needs the merchant's acknowledgement below.
const FORM_CONSENT_OPTIONS = [
  { label: 'Not subscribed (no consent yet)', value: 'pending' },
  { label: 'Subscribed', value: 'subscribed' },
  { label: 'Unsubscribed', value: 'unsubscribed' },
];

/**
 * An edit sends only what the merchant changed. The form holds the contact as
 * it was when it opened: sent back whole, a consent the contact no longer has
 * would overwrite what happened meanwhile (a `subscribed` lifts an opt-out a
 * customers/* webhook or another tab recorded since; an `unsubscribed` turns
 * Shopify's opt-out into the merchant's), and so would stale tags or names.
 */
function editedFields(contact: Contact, form: ContactForm, tags: string[]): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const text = (k: 'firstName' | 'lastName' | 'email' | 'timezone'): void => {
    const v = form[k].trim() || null;
    if (v !== (contact[k] ?? null)) body[k] = v;
  };
  if (form.phone.trim() !== contact.phone) body.phone = form.phone.trim();
  text('firstName');
  text('lastName');
  text('email');
  text('timezone');
  if (tags.join('\u0000') !== contact.tags.join('\u0000')) body.tags = tags;
  if (form.smsConsent !== contact.smsConsent) body.smsConsent = form.smsConsent;
  return body;
}

function ContactModal({ contact, onClose, onSaved }: { contact?: Contact; onClose(): void; onSaved(): void }) {
  const [form, setForm] = useState<ContactForm>({
    phone: contact?.phone ?? '',
    firstName: contact?.firstName ?? '',
    lastName: contact?.lastName ?? '',
    email: contact?.email ?? '',
    tags: contact?.tags.join(', ') ?? '',
    smsConsent: contact?.smsConsent ?? 'pending',
    timezone: contact?.timezone ?? '',
  });
  const [errors, setErrors] = useState<Partial<Record<keyof ContactForm | 'consentConfirmed', string>>>({});
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  // Subscribing (anew) is the merchant's claim of the person's consent: asked for explicitly.
  const [consentConfirmed, setConsentConfirmed] = useState(false);
  const subscribing = form.smsConsent === 'subscribed' && contact?.smsConsent !== 'subscribed';
  // Saved, but an existing opted-out number stayed opted out: said before the form closes.
  const [keptOptOut, setKeptOptOut] = useState<Contact>();
  // One key per opening of the form: a double click saves once.
  const key = useRef(newIdempotencyKey());
  const set = (k: keyof ContactForm) => (v: string) => {
    setForm((f) => ({ ...f, [k]: v }));
    setErrors((e) => ({ ...e, [k]: undefined }));
  };

  const save = async () => {
    if (saving) return;
    if (subscribing && !consentConfirmed) {
      setErrors((e) => ({ ...e, consentConfirmed: 'Confirm the person agreed to receive marketing texts, or choose another consent.' }));
      return;
    }
    setSaving(true);
    setError(undefined);
    const tags = [...new Set(form.tags.split(',').map((t) => t.trim()).filter(Boolean))];
    const body = contact
      ? editedFields(contact, form, tags)
      : { phone: form.phone.trim(), ...(form.firstName.trim() ? { firstName: form.firstName.trim() } : {}), ...(form.lastName.trim() ? { lastName: form.lastName.trim() } : {}), ...(form.email.trim() ? { email: form.email.trim() } : {}), ...(tags.length ? { tags } : {}), smsConsent: form.smsConsent, ...(form.timezone.trim() ? { timezone: form.timezone.trim() } : {}) };
    try {
      const saved = await api<Contact>(contact ? 'PATCH' : 'POST', contact ? `/contacts/${contact.id}` : '/contacts', { body, idempotencyKey: key.current });
      // Adding a number the shop holds as opted out never re-subscribes it (docs/api.md, "Consent and opt-outs").
      if (!contact && form.smsConsent === 'subscribed' && saved.optedOutAt) {
        setKeptOptOut(saved);
        return;
      }
      toast(contact ? 'Contact saved' : 'Contact added');
      onSaved();
    } catch (err) {
      key.current = newIdempotencyKey();
      const fields: Partial<Record<keyof ContactForm, string>> = {};
      if (err instanceof ApiError) {
        for (const [path, msg] of Object.entries(err.fieldErrors())) {
          const f = (path.split('.')[0] ?? '') as keyof ContactForm;
          if (f in form && !fields[f]) fields[f] = msg;
        }
      }
      setErrors(fields);
      if (Object.keys(fields).length === 0) setError(err);
    } finally {
      setSaving(false);
    }
  };

  if (keptOptOut) {
    return (
      <Modal open onClose={onSaved} title="Contact not subscribed" primaryAction={{ content: 'Done', onAction: onSaved }}>
        <Modal.Section>
          <Banner tone="warning" title={`${keptOptOut.phone} opted out`}>
            <p>
              This number is already a contact and opted out on {dateTime(keptOptOut.optedOutAt!)}. Adding it again did not subscribe it: it stays unsubscribed. If the person texted STOP, only they can opt back in (by texting START); otherwise edit the contact once you have their consent.
            </p>
          </Banner>
        </Modal.Section>
      </Modal>
    );
  }

  return (
    <Modal
      open
      onClose={onClose}
      title={contact ? 'Edit contact' : 'Add contact'}
      primaryAction={{ content: 'Save', onAction: () => void save(), loading: saving }}
      secondaryActions={[{ content: 'Cancel', onAction: onClose }]}
    >
      <Modal.Section>
        <BlockStack gap="300">
          {error ? <ApiErrorBanner error={error} /> : null}
          <FormLayout>
            <TextField label="Phone" value={form.phone} onChange={set('phone')} autoComplete="off" helpText="International format, e.g. +44 20 7946 0958" error={errors.phone} />
            <FormLayout.Group>
              <TextField label="First name" value={form.firstName} onChange={set('firstName')} autoComplete="off" error={errors.firstName} />
              <TextField label="Last name" value={form.lastName} onChange={set('lastName')} autoComplete="off" error={errors.lastName} />
            </FormLayout.Group>
            <TextField label="Email" type="email" value={form.email} onChange={set('email')} autoComplete="off" error={errors.email} />
            <TextField label="Tags" value={form.tags} onChange={set('tags')} autoComplete="off" helpText="Comma separated" error={errors.tags} />
            <TextField
              label="Time zone"
              value={form.timezone}
              onChange={set('timezone')}
              autoComplete="off"
              placeholder="From the phone number"
              maxLength={64}
              helpText="Quiet hours apply in this zone. An IANA name such as America/New_York or Europe/London; empty: the one the phone number implies."
              error={errors.timezone}
            />
            <Select
              label="SMS consent"
              options={FORM_CONSENT_OPTIONS}
              value={form.smsConsent}
              onChange={(v) => {
                set('smsConsent')(v);
                setConsentConfirmed(false);
                setErrors((e) => ({ ...e, consentConfirmed: undefined }));
              }}
              error={errors.smsConsent}
              helpText={contact?.optedOutAt ? 'This contact opted out. Only the person can opt back in if they texted STOP.' : 'Only subscribed contacts get marketing texts.'}
            />
            {subscribing ? (
              <Checkbox
                label="This person agreed to receive marketing texts from us at this number (e.g. a signed form or a keyword opt-in), and I can show that consent."
                checked={consentConfirmed}
                onChange={(v) => {
                  setConsentConfirmed(v);
                  setErrors((e) => ({ ...e, consentConfirmed: undefined }));
                }}
                error={errors.consentConfirmed}
              />
            ) : null}
          </FormLayout>
        </BlockStack>
      </Modal.Section>
    </Modal>
  );
}

const FIELDS = [
  { label: 'Ignore this column', value: '' },
  { label: 'Phone', value: 'phone' },
  { label: 'Country (ISO code)', value: 'country' },
  { label: 'First name', value: 'firstName' },
  { label: 'Last name', value: 'lastName' },
  { label: 'Email', value: 'email' },
  { label: 'SMS consent', value: 'smsConsent' },
  { label: 'Tags (separated by ;)', value: 'tags' },
  { label: 'Time zone (IANA name)', value: 'timezone' },
];

/** A column's field guessed from its header. */
function guess(header: string): string {
  const h = header.toLowerCase().replace(/[^a-z]/g, '');
  if (/phone|mobile|cell|tel/.test(h)) return 'phone';
  if (h === 'country' || h === 'countrycode') return 'country';
  if (/^(first|firstname|givenname)$/.test(h)) return 'firstName';
  if (/^(last|lastname|surname|familyname)$/.test(h)) return 'lastName';
  if (/email/.test(h)) return 'email';
  if (/consent|subscri/.test(h)) return 'smsConsent';
  if (/tag/.test(h)) return 'tags';
  if (/zone|^tz$/.test(h)) return 'timezone';
  return '';
}

const MAX_ROWS = 50_000;

function ImportCard({ onClose, onDone }: { onClose(): void; onDone(): void }) {
  const [file, setFile] = useState<{ name: string; header: string[]; rows: string[][]; lines: number[] }>();
  const [mapping, setMapping] = useState<string[]>([]);
  const [defaultCountry, setDefaultCountry] = useState('');
  const [error, setError] = useState<unknown>();
  const [importId, setImportId] = useState<string>();
  const [submitting, setSubmitting] = useState(false);
  const key = useRef(newIdempotencyKey());
  const status = useApi<ContactImport>(importId ? `/contacts/imports/${importId}` : null, { pollMs: 1000, keepPolling: (s) => s.status === 'queued' || s.status === 'running' });
  const done = status.data && (status.data.status === 'completed' || status.data.status === 'failed');
  const notify = useRef(onDone);
  notify.current = onDone;
  useEffect(() => {
    if (done) notify.current();
  }, [done]);

  const read = async (files: File[]) => {
    setError(undefined);
    const f = files[0];
    if (!f) return;
    const [header, ...data] = parseCsv(await f.text());
    if (!header || data.length === 0) return setError(new Error('The file has no rows under its header.'));
    if (data.length > MAX_ROWS) return setError(new Error(`At most ${num(MAX_ROWS)} rows per import; this file has ${num(data.length)}.`));
    setFile({ name: f.name, header: header.cells, rows: data.map((r) => r.cells), lines: data.map((r) => r.line) });
    setMapping(header.cells.map(guess));
    key.current = newIdempotencyKey();
  };

  const submit = async () => {
    if (!file || submitting) return;
    if (!mapping.includes('phone')) return setError(new Error('Choose the column that holds the phone number.'));
    setSubmitting(true);
    setError(undefined);
    // Only mapped columns are sent: the api refuses rows with unknown fields.
    const contacts = file.rows.map((r) => {
      const o: Record<string, string | string[]> = {};
      mapping.forEach((field, i) => {
        const v = (r[i] ?? '').trim();
        if (!field || v === '') return;
        o[field] = field === 'tags' ? v.split(';').map((t) => t.trim()).filter(Boolean) : field === 'smsConsent' ? v.toLowerCase() : v;
      });
      return o;
    });
    try {
      const body = { contacts, ...(defaultCountry.trim() ? { defaultCountry: defaultCountry.trim().toUpperCase() } : {}) };
      const r = await api<{ importId: string }>('POST', '/contacts/import', { body, idempotencyKey: key.current });
      setImportId(r.importId);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'IMPORT_IN_PROGRESS')) key.current = newIdempotencyKey();
      setError(err instanceof ApiError && err.code === 'IMPORT_IN_PROGRESS' ? new Error('Another import is still running; try again when it has finished.') : err);
    } finally {
      setSubmitting(false);
    }
  };

  // A rejection names the row by its index in what was sent; the merchant looks for it by its line in the file.
  const lineOf = (row: number): number => file?.lines[row] ?? row + 2;

  const downloadRejections = async () => {
    if (!importId) return;
    const all: ImportRejection[] = [];
    let cursor: string | null = null;
    do {
      const page: ListPage<ImportRejection> = await api('GET', `/contacts/imports/${importId}/rejections?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      all.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor);
    const csv = toCsv([['line', 'row', 'code', 'message'], ...all.map((r) => [lineOf(r.row), r.row, r.code, r.message])]);
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    a.download = `rejections-${importId}.csv`;
    a.click();
    URL.revokeObjectURL(a.href);
  };

  const s = status.data;
  return (
    <Card>
      <BlockStack gap="400">
        <InlineStack align="space-between">
          <Text as="h2" variant="headingMd">
            Import contacts from CSV
          </Text>
          <Button variant="plain" onClick={onClose}>
            Close
          </Button>
        </InlineStack>
        {error ? <ApiErrorBanner error={error} onDismiss={() => setError(undefined)} /> : null}
        {!importId ? (
          <>
            <DropZone label="CSV file" accept=".csv,text/csv" type="file" allowMultiple={false} onDropAccepted={(f) => void read(f)}>
              {file ? (
                <div style={{ padding: 'var(--p-space-400)' }}>
                  <Text as="p">
                    {file.name}: {num(file.rows.length)} rows
                  </Text>
                </div>
              ) : (
                <DropZone.FileUpload actionTitle="Choose a CSV file" actionHint="The first line names the columns" />
              )}
            </DropZone>
            {file ? (
              <BlockStack gap="300">
                <Text as="h3" variant="headingSm">
                  Columns
                </Text>
                <InlineGrid columns={{ xs: 1, md: 3 }} gap="300">
                  {file.header.map((h, i) => (
                    <Select key={`${h}-${i}`} label={`Column "${h}"`} options={FIELDS} value={mapping[i] ?? ''} onChange={(v) => setMapping((m) => m.map((x, j) => (j === i ? v : x)))} />
                  ))}
                </InlineGrid>
                <TextField label="Default country" value={defaultCountry} onChange={setDefaultCountry} autoComplete="off" maxLength={2} helpText="For numbers without an international prefix (e.g. US)" />
                <InlineStack align="end">
                  <Button variant="primary" onClick={() => void submit()} loading={submitting}>
                    {`Import ${num(file.rows.length)} contacts`}
                  </Button>
                </InlineStack>
              </BlockStack>
            ) : null}
          </>
        ) : (
          <BlockStack gap="300">
            <Text as="p">
              <span data-testid="import-status">
                {s ? `${s.status === 'completed' ? 'Completed' : s.status === 'failed' ? 'Failed' : 'Importing'}: ${num(s.processed)} of ${num(s.total)} rows` : 'Starting…'}
              </span>
            </Text>
            <ProgressBar progress={s && s.total ? Math.round((s.processed / s.total) * 100) : 0} size="small" />
            {s && done ? (
              <Text as="p">
                <span data-testid="import-summary">
                  {num(s.created)} added, {num(s.updated)} updated, {num(s.rejectedCount)} rejected
                </span>
              </Text>
            ) : null}
            {s?.error ? <Text as="p" tone="critical">{s.error}</Text> : null}
            {s && s.rejected.length > 0 ? (
              <BlockStack gap="200">
                <InlineStack align="space-between" blockAlign="center">
                  <Text as="h3" variant="headingSm">
                    Rejected rows
                  </Text>
                  <Button onClick={() => void downloadRejections().catch(setError)}>Download rejections</Button>
                </InlineStack>
                <IndexTable
                  resourceName={{ singular: 'rejected row', plural: 'rejected rows' }}
                  itemCount={s.rejected.length}
                  selectable={false}
                  headings={[{ title: 'Line' }, { title: 'Reason' }]}
                >
                  {s.rejected.map((r, i) => (
                    <IndexTable.Row key={r.row} id={String(r.row)} position={i}>
                      <IndexTable.Cell>{lineOf(r.row)}</IndexTable.Cell>
                      <IndexTable.Cell>
                        <Text as="span">{r.message}</Text>
                      </IndexTable.Cell>
                    </IndexTable.Row>
                  ))}
                </IndexTable>
                {s.rejectedCount > s.rejected.length ? (
                  <Text as="p" tone="subdued">
                    Showing the first {num(s.rejected.length)} of {num(s.rejectedCount)}; the download has them all.
                  </Text>
                ) : null}
              </BlockStack>
            ) : null}
          </BlockStack>
        )}
      </BlockStack>
    </Card>
  );
}
