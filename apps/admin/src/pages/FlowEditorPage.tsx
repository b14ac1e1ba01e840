import {
  ActionList,
  Banner,
  BlockStack,
  Box,
  Button,
  ButtonGroup,
  Card,
  Checkbox,
  FormLayout,
  InlineGrid,
  InlineStack,
  Layout,
  List,
  Page,
  Popover,
  Select,
  SkeletonBodyText,
  Text,
  TextField,
} from '@shopify/polaris';
import { useEffect, useRef, useState } from 'react';
import { api, ApiError, newIdempotencyKey } from '../api/client';
import type { Flow, FlowDetail, FlowMessagePreview, SmartSending, TriggerType, WaitUnit } from '../api/flow-types';
import { toast } from '../bridge';
import { ApiErrorBanner } from '../components/ApiErrorBanner';
import { Counter } from '../components/Counter';
import { FlowStatusBadge } from '../components/FlowStatusBadge';
import { blankStep, errorKey, fieldErrorsOf, formOf, inputOf, isTemplateId, localErrors, templateFlow, TRIGGER_OPTIONS, type FlowForm, type StepForm, type StepType } from '../flows';
import { num } from '../format';
import { useDebounced } from '../hooks';
import { href, useRouter } from '../router';

const STEP_TITLE: Record<StepType, string> = { wait: 'Wait', send: 'Send a text', condition: 'Condition' };

const PLACEHOLDERS: { label: string; text: string; checkoutOnly?: boolean }[] = [
  { label: 'First name (fallback "there")', text: '{{firstName|there}}' },
  { label: 'Last name', text: '{{lastName}}' },
  { label: 'Shop name', text: '{{shopName}}' },
  { label: 'Checkout link', text: '{{checkoutUrl}}', checkoutOnly: true },
  { label: 'Discount code', text: '{{discountCode}}' },
];

const UNIT_OPTIONS: { label: string; value: WaitUnit }[] = [
  { label: 'minutes', value: 'minutes' },
  { label: 'hours', value: 'hours' },
  { label: 'days', value: 'days' },
];

const SMART_OPTIONS: { label: string; value: SmartSending['mode'] }[] = [
  { label: 'Apply smart sending', value: 'apply' },
  { label: 'Exempt from smart sending', value: 'exempt' },
  { label: 'Exempt for a while after the trigger', value: 'exempt_within' },
];

const BLANK: Pick<Flow, 'name' | 'trigger' | 'currentVersion'> = {
  name: '',
  trigger: { type: 'contact_subscribed' },
  currentVersion: { id: '', version: 0, steps: [{ type: 'send', body: '' }], exitCondition: { orderPlaced: true }, smartSending: { mode: 'apply' }, createdAt: '' },
};

type Errors = Record<string, string>;

/** A template chosen while the editor is open (back/forward) starts a fresh form. */
export default function FlowEditorPage({ flowId }: { flowId?: string }) {
  const { search } = useRouter();
  const template = search.get('template');
  return <FlowEditor key={template ?? ''} flowId={flowId} template={template} />;
}

function FlowEditor({ flowId, template }: { flowId?: string; template: string | null }) {
  const { navigate } = useRouter();
  const [form, setForm] = useState<FlowForm | null>(() => (flowId ? null : formOf(isTemplateId(template) ? templateFlow(template) : BLANK)));
  const [flow, setFlow] = useState<FlowDetail>();
  const [errors, setErrors] = useState<Errors>({});
  const [otherErrors, setOtherErrors] = useState<string[]>([]);
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  // Creating is one intent however often Save is pressed: one key until it is stored.
  const createKey = useRef(newIdempotencyKey());
  const inFlight = useRef(false);

  useEffect(() => {
    if (!flowId) return;
    api<FlowDetail>('GET', `/flows/${flowId}`)
      .then((f) => {
        setFlow(f);
        setForm(formOf(f));
      })
      .catch(setError);
  }, [flowId]);

  // An edited field's error is the merchant's to re-check: it goes until the next save.
  const clear = (keys: string[]) =>
    setErrors((e) => (keys.some((k) => k in e) ? Object.fromEntries(Object.entries(e).filter(([k]) => !keys.includes(k))) : e));
  const update = (patch: Partial<FlowForm>) => {
    clear(Object.keys(patch));
    setForm((f) => (f ? { ...f, ...patch } : f));
  };
  const setStep = (i: number, patch: Partial<StepForm>) => {
    clear([errorKey(i, 'step'), ...Object.keys(patch).map((k) => errorKey(i, k as keyof StepForm))]);
    setForm((f) => (f ? { ...f, steps: f.steps.map((s, j) => (j === i ? { ...s, ...patch } : s)) } : f));
  };
  // Errors name steps by position: a change of structure makes them stale.
  const restructure = (steps: (s: StepForm[]) => StepForm[]) => {
    setErrors({});
    setForm((f) => (f ? { ...f, steps: steps(f.steps) } : f));
  };
  const move = (i: number, by: -1 | 1) =>
    restructure((steps) => {
      const next = [...steps];
      const [s] = next.splice(i, 1);
      next.splice(i + by, 0, s!);
      return next;
    });

  const save = async () => {
    if (!form || inFlight.current) return;
    const local = localErrors(form);
    setOtherErrors([]);
    setError(undefined);
    if (Object.keys(local).length > 0) {
      setErrors(local);
      return;
    }
    inFlight.current = true;
    setSaving(true);
    try {
      const body = inputOf(form);
      if (!flowId) {
        const f = await api<Flow>('POST', '/flows', { body, idempotencyKey: createKey.current });
        toast('Flow saved as a draft');
        navigate(`/flows/${f.id}`);
      } else {
        const f = await api<Flow>('PATCH', `/flows/${flowId}`, { body, idempotencyKey: newIdempotencyKey() });
        const changed = flow?.currentVersion?.version !== f.currentVersion?.version;
        toast(changed && f.status !== 'draft' ? `Saved as version ${f.currentVersion?.version}. Runs in progress keep the version they started on.` : 'Flow saved');
        navigate(`/flows/${f.id}`);
      }
    } catch (err) {
      // Anything but a validation refusal may be stored under the key: a new attempt is a new request.
      if (!flowId && !(err instanceof ApiError && err.status === 400)) createKey.current = newIdempotencyKey();
      if (err instanceof ApiError && err.status === 400) {
        const { fields, other } = fieldErrorsOf(err.fieldErrors());
        setErrors(fields);
        setOtherErrors(other.length > 0 || Object.keys(fields).length === 0 ? [...other, ...(Object.keys(fields).length === 0 ? [err.message] : [])] : []);
      } else setError(err);
    } finally {
      inFlight.current = false;
      setSaving(false);
    }
  };

  const live = flow?.status === 'live';
  const activeRuns = flow?.versions.reduce((n, v) => n + v.runs.active, 0) ?? 0;
  const errorCount = Object.keys(errors).length + otherErrors.length;

  return (
    <Page
      title={flowId ? (flow ? `Edit ${flow.name}` : 'Edit flow') : 'New flow'}
      titleMetadata={flow ? <FlowStatusBadge status={flow.status} /> : undefined}
      backAction={{ content: flowId ? 'Flow' : 'Flows', url: href(flowId ? `/flows/${flowId}` : '/flows') }}
      primaryAction={{ content: flowId ? 'Save' : 'Save draft', onAction: () => void save(), loading: saving, disabled: !form }}
      secondaryActions={[{ content: 'Cancel', url: href(flowId ? `/flows/${flowId}` : '/flows') }]}
    >
      <Layout>
        {error ? (
          <Layout.Section>
            <ApiErrorBanner error={error} onDismiss={() => setError(undefined)} />
          </Layout.Section>
        ) : null}
        {errorCount > 0 ? (
          <Layout.Section>
            <Banner tone="critical" title="This flow cannot be saved yet">
              {otherErrors.length > 0 ? (
                <List>
                  {otherErrors.map((m) => (
                    <List.Item key={m}>{m}</List.Item>
                  ))}
                </List>
              ) : (
                <p>Fix the fields marked below.</p>
              )}
            </Banner>
          </Layout.Section>
        ) : null}
        {flow && flow.status !== 'draft' ? (
          <Layout.Section>
            <Banner tone="info" title={`Saving creates version ${num((flow.currentVersion?.version ?? 0) + 1)}`}>
              <p>
                {live ? 'This flow is live: new runs start on the saved version. ' : 'New runs start on the saved version once the flow is live again. '}
                {activeRuns === 1
                  ? 'The run in progress finishes on the version it started with.'
                  : activeRuns > 1
                    ? `The ${num(activeRuns)} runs in progress finish on the version they started with.`
                    : 'Runs already in progress always finish on the version they started with.'}
              </p>
            </Banner>
          </Layout.Section>
        ) : null}
        <Layout.Section>
          {!form ? (
            <Card>
              <SkeletonBodyText lines={8} />
            </Card>
          ) : (
            <BlockStack gap="400">
              <Card>
                <FormLayout>
                  <TextField label="Flow name" value={form.name} onChange={(name) => update({ name })} autoComplete="off" maxLength={200} error={errors.name} placeholder="Welcome series" />
                  <FormLayout.Group>
                    <Select
                      label="Trigger"
                      options={TRIGGER_OPTIONS}
                      value={form.triggerType}
                      onChange={(v) => update({ triggerType: v as TriggerType, orderPlaced: v !== 'order_created' })}
                      disabled={live}
                      helpText={live ? 'Pause the flow to change its trigger.' : 'What starts a run for a contact.'}
                      error={errors.triggerType}
                    />
                    {form.triggerType === 'checkout_abandoned' ? (
                      <TextField
                        label="Start after (minutes)"
                        type="number"
                        min={10}
                        max={10080}
                        value={form.delayMinutes}
                        onChange={(delayMinutes) => update({ delayMinutes })}
                        autoComplete="off"
                        helpText="How long a checkout stays untouched before it counts as abandoned (10–10 080)."
                        error={errors.delayMinutes}
                      />
                    ) : null}
                  </FormLayout.Group>
                </FormLayout>
              </Card>
              <Card>
                <BlockStack gap="400">
                  <BlockStack gap="100">
                    <Text as="h2" variant="headingMd">
                      Steps
                    </Text>
                    <Text as="p" tone="subdued">
                      Each contact goes through the steps in order, once. Texts obey consent, quiet hours and smart sending.
                    </Text>
                  </BlockStack>
                  {form.steps.length === 0 ? (
                    <Text as="p" tone="subdued">
                      No step yet. Add a text below.
                    </Text>
                  ) : null}
                  {form.steps.map((s, i) => (
                    <StepCard
                      key={s.key}
                      step={s}
                      index={i}
                      steps={form.steps}
                      triggerType={form.triggerType}
                      errors={errors}
                      onChange={(patch) => setStep(i, patch)}
                      onMove={(by) => move(i, by)}
                      onRemove={() => restructure((steps) => steps.filter((_, j) => j !== i))}
                    />
                  ))}
                  <InlineStack gap="200">
                    <Button onClick={() => restructure((steps) => [...steps, blankStep('wait')])} disabled={form.steps.length >= 20}>
                      Add wait
                    </Button>
                    <Button onClick={() => restructure((steps) => [...steps, blankStep('send')])} disabled={form.steps.length >= 20}>
                      Add text
                    </Button>
                    <Button onClick={() => restructure((steps) => [...steps, blankStep('condition')])} disabled={form.steps.length >= 20}>
                      Add condition
                    </Button>
                  </InlineStack>
                </BlockStack>
              </Card>
              <Card>
                <BlockStack gap="300">
                  <Text as="h2" variant="headingMd">
                    Exit and smart sending
                  </Text>
                  <Checkbox
                    label="End the run when the contact places an order"
                    checked={form.orderPlaced}
                    onChange={(orderPlaced) => update({ orderPlaced })}
                    helpText="Checked before every step. A STOP reply always ends every run of the contact."
                  />
                  <FormLayout>
                    <FormLayout.Group>
                      <Select
                        label="Smart sending"
                        options={SMART_OPTIONS}
                        value={form.smartMode}
                        onChange={(v) => update({ smartMode: v as SmartSending['mode'] })}
                        helpText="Smart sending skips contacts texted within the shop's window (Settings)."
                        error={errors.smartMode}
                      />
                      {form.smartMode === 'exempt_within' ? (
                        <TextField
                          label="Exempt for (minutes after the trigger)"
                          type="number"
                          min={1}
                          max={10080}
                          value={form.withinMinutes}
                          onChange={(withinMinutes) => update({ withinMinutes })}
                          autoComplete="off"
                          error={errors.withinMinutes}
                        />
                      ) : null}
                    </FormLayout.Group>
                  </FormLayout>
                </BlockStack>
              </Card>
            </BlockStack>
          )}
        </Layout.Section>
      </Layout>
    </Page>
  );
}

interface StepProps {
  step: StepForm;
  index: number;
  steps: StepForm[];
  triggerType: TriggerType;
  errors: Errors;
  onChange(patch: Partial<StepForm>): void;
  onMove(by: -1 | 1): void;
  onRemove(): void;
}

function StepCard({ step, index, steps, triggerType, errors, onChange, onMove, onRemove }: StepProps) {
  const n = index + 1;
  const err = (f: keyof StepForm | 'step') => errors[errorKey(index, f)];
  return (
    <section aria-label={`Step ${n}`} data-testid={`step-${index}`}>
      <Box padding="400" borderWidth="025" borderColor="border" borderRadius="300">
        <BlockStack gap="300">
          <InlineStack align="space-between" blockAlign="center">
            <Text as="h3" variant="headingSm">
              Step {n} · {STEP_TITLE[step.type]}
            </Text>
            <ButtonGroup variant="segmented">
              <Button size="slim" onClick={() => onMove(-1)} disabled={index === 0} accessibilityLabel={`Move step ${n} up`}>
                Up
              </Button>
              <Button size="slim" onClick={() => onMove(1)} disabled={index === steps.length - 1} accessibilityLabel={`Move step ${n} down`}>
                Down
              </Button>
              <Button size="slim" tone="critical" onClick={onRemove} accessibilityLabel={`Remove step ${n}`}>
                Remove
              </Button>
            </ButtonGroup>
          </InlineStack>
          {err('step') ? (
            <Text as="p" tone="critical">
              {err('step')}
            </Text>
          ) : null}
          {step.type === 'wait' ? <WaitFields step={step} n={n} err={err} onChange={onChange} /> : null}
          {step.type === 'send' ? <SendFields step={step} index={index} triggerType={triggerType} err={err} onChange={onChange} /> : null}
          {step.type === 'condition' ? <ConditionFields step={step} index={index} steps={steps} err={err} onChange={onChange} /> : null}
        </BlockStack>
      </Box>
    </section>
  );
}

type FieldError = (f: keyof StepForm | 'step') => string | undefined;

function WaitFields({ step, n, err, onChange }: { step: StepForm; n: number; err: FieldError; onChange(p: Partial<StepForm>): void }) {
  return (
    <FormLayout>
      <Select
        label={`Step ${n}: wait`}
        options={[
          { label: 'For a while', value: 'duration' },
          { label: 'Until a time of day', value: 'window' },
        ]}
        value={step.waitMode}
        onChange={(v) => onChange({ waitMode: v as StepForm['waitMode'] })}
      />
      {step.waitMode === 'duration' ? (
        <FormLayout.Group condensed>
          <TextField label="Wait for" type="number" min={1} value={step.amount} onChange={(amount) => onChange({ amount })} autoComplete="off" error={err('amount')} helpText="At most 90 days." />
          <Select label="Unit" options={UNIT_OPTIONS} value={step.unit} onChange={(v) => onChange({ unit: v as WaitUnit })} />
        </FormLayout.Group>
      ) : (
        <FormLayout.Group condensed>
          <TextField label="From" type="time" value={step.from} onChange={(from) => onChange({ from })} autoComplete="off" error={err('from')} />
          <TextField label="To" type="time" value={step.to} onChange={(to) => onChange({ to })} autoComplete="off" error={err('to')} helpText="In the contact's time zone; no wait if it is already that time." />
        </FormLayout.Group>
      )}
    </FormLayout>
  );
}

function SendFields({ step, index, triggerType, err, onChange }: { step: StepForm; index: number; triggerType: TriggerType; err: FieldError; onChange(p: Partial<StepForm>): void }) {
  const [menuOpen, setMenuOpen] = useState(false);
  const bodyRef = useRef<HTMLDivElement>(null);
  const [preview, setPreview] = useState<FlowMessagePreview>();
  const [previewError, setPreviewError] = useState<string>();
  const [previewing, setPreviewing] = useState(false);
  const body = useDebounced(step.body, 300);
  const code = useDebounced(step.discountCode.trim(), 300);

  useEffect(() => {
    if (!body.trim()) {
      setPreview(undefined);
      setPreviewError(undefined);
      return;
    }
    const ctl = new AbortController();
    setPreviewing(true);
    api<FlowMessagePreview>('POST', '/flows/preview', { body: { body, discountCode: code || null }, signal: ctl.signal })
      .then((p) => {
        setPreview(p);
        setPreviewError(undefined);
      })
      .catch((e: unknown) => {
        if (ctl.signal.aborted) return;
        setPreview(undefined);
        setPreviewError(e instanceof ApiError && e.status === 400 ? (Object.values(e.fieldErrors())[0] ?? e.message) : undefined);
      })
      .finally(() => {
        if (!ctl.signal.aborted) setPreviewing(false);
      });
    return () => ctl.abort();
  }, [body, code]);

  const insert = (text: string) => {
    const ta = bodyRef.current?.querySelector('textarea');
    const start = ta?.selectionStart ?? step.body.length;
    const end = ta?.selectionEnd ?? step.body.length;
    onChange({ body: step.body.slice(0, start) + text + step.body.slice(end) });
    setMenuOpen(false);
    requestAnimationFrame(() => {
      ta?.focus();
      ta?.setSelectionRange(start + text.length, start + text.length);
    });
  };
  const usesCode = /\{\{\s*discountCode\s*(\||\}\})/.test(step.body);

  return (
    <InlineGrid columns={{ xs: 1, md: ['twoThirds', 'oneThird'] }} gap="400">
      <BlockStack gap="300">
        <BlockStack gap="200">
          <InlineStack align="space-between" blockAlign="end">
            <Text as="span" variant="bodyMd">
              Message
            </Text>
            <Popover
              active={menuOpen}
              onClose={() => setMenuOpen(false)}
              activator={
                <Button disclosure onClick={() => setMenuOpen((o) => !o)} accessibilityLabel={`Insert placeholder in step ${index + 1}`}>
                  Insert placeholder
                </Button>
              }
            >
              <ActionList
                items={PLACEHOLDERS.map((p) => ({
                  content: p.label,
                  helpText: p.checkoutOnly && triggerType !== 'checkout_abandoned' ? 'Abandoned checkout flows only' : p.text,
                  disabled: p.checkoutOnly === true && triggerType !== 'checkout_abandoned',
                  onAction: () => insert(p.text),
                }))}
              />
            </Popover>
          </InlineStack>
          <div ref={bodyRef}>
            <TextField
              label={`Step ${index + 1} message`}
              labelHidden
              value={step.body}
              onChange={(body) => onChange({ body })}
              multiline={4}
              autoComplete="off"
              maxLength={1600}
              error={err('body') ?? previewError}
              helpText="Placeholders are filled per contact; a contact without the value gets the fallback after |."
            />
          </div>
        </BlockStack>
        <TextField
          label="Discount code"
          value={step.discountCode}
          onChange={(discountCode) => onChange({ discountCode })}
          autoComplete="off"
          maxLength={64}
          placeholder="WELCOME10"
          helpText={usesCode ? 'Sent where the message says {{discountCode}}. Create the code in Shopify Discounts.' : 'Optional: what {{discountCode}} becomes.'}
          error={err('discountCode')}
        />
      </BlockStack>
      <Box padding="300" background="bg-surface-secondary" borderRadius="300">
        <BlockStack gap="200">
          <InlineStack align="space-between">
            <Text as="h4" variant="headingSm">
              Preview
            </Text>
            {previewing ? (
              <Text as="span" variant="bodySm" tone="subdued">
                Updating…
              </Text>
            ) : null}
          </InlineStack>
          <div data-testid={`step-${index}-preview`} style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
            <Text as="p">{preview?.text ?? (step.body ? '…' : 'The text appears here as a contact receives it.')}</Text>
          </div>
          <InlineGrid columns={3} gap="200">
            <Counter label="Characters" value={preview?.characters} testId={`step-${index}-characters`} />
            <Counter label="Encoding" value={preview?.encoding} testId={`step-${index}-encoding`} />
            <Counter label="Segments" value={preview?.segments} testId={`step-${index}-segments`} />
          </InlineGrid>
          {preview && preview.links.length > 0 ? (
            <Text as="p" variant="bodySm" tone="subdued">
              <span data-testid={`step-${index}-links`}>
                {preview.links.length === 1 ? 'Its link is' : `Its ${preview.links.length} links are`} sent as the text's own short link
                {preview.shortLinkLength === undefined ? '' : ` of ${preview.shortLinkLength} characters`} (counted above), so clicks show in the flow's performance.
              </span>
            </Text>
          ) : null}
          <Text as="p" variant="bodySm" tone="subdued">
            One credit per segment. {preview?.encoding === 'UCS-2' ? 'An emoji or accent makes each segment hold 70 characters instead of 160.' : ''}
          </Text>
        </BlockStack>
      </Box>
    </InlineGrid>
  );
}

function ConditionFields({ step, index, steps, err, onChange }: { step: StepForm; index: number; steps: StepForm[]; err: FieldError; onChange(p: Partial<StepForm>): void }) {
  const n = index + 1;
  const target = steps.findIndex((s) => s.key === step.otherwise);
  const otherwiseOptions = [
    { label: 'End the run', value: 'exit' },
    ...steps.flatMap((s, j) => (j > index || j === target ? [{ label: `Go to step ${j + 1}${j > index ? '' : ' (must be a later step)'}`, value: s.key }] : [])),
  ];
  return (
    <FormLayout>
      <FormLayout.Group>
        <Select
          label={`Step ${n}: continue if`}
          options={[
            { label: 'Ordered since the trigger', value: 'hasOrderedSinceTrigger' },
            { label: 'SMS consent', value: 'consent' },
            { label: 'Tag', value: 'tag' },
          ]}
          value={step.checkKind}
          onChange={(v) => onChange({ checkKind: v as StepForm['checkKind'] })}
          error={err('checkKind')}
        />
        {step.checkKind === 'hasOrderedSinceTrigger' ? (
          <Select
            label="Is"
            options={[
              { label: 'Has not ordered', value: 'no' },
              { label: 'Has ordered', value: 'yes' },
            ]}
            value={step.ordered}
            onChange={(v) => onChange({ ordered: v as StepForm['ordered'] })}
          />
        ) : null}
        {step.checkKind === 'consent' ? (
          <Select
            label="Consent is"
            options={[
              { label: 'Subscribed', value: 'subscribed' },
              { label: 'Unsubscribed', value: 'unsubscribed' },
              { label: 'Pending', value: 'pending' },
            ]}
            value={step.consent}
            onChange={(v) => onChange({ consent: v as StepForm['consent'] })}
          />
        ) : null}
      </FormLayout.Group>
      {step.checkKind === 'tag' ? (
        <FormLayout.Group>
          <Select
            label="Contact"
            options={[
              { label: 'Has the tag', value: 'yes' },
              { label: 'Does not have the tag', value: 'no' },
            ]}
            value={step.tagIs}
            onChange={(v) => onChange({ tagIs: v as StepForm['tagIs'] })}
          />
          <TextField label="Tag" value={step.tag} onChange={(tag) => onChange({ tag })} autoComplete="off" maxLength={64} error={err('tag')} placeholder="vip" />
        </FormLayout.Group>
      ) : null}
      <Select label="Otherwise" options={otherwiseOptions} value={target < 0 ? 'exit' : step.otherwise} onChange={(otherwise) => onChange({ otherwise })} error={err('otherwise')} helpText="A run never goes back to an earlier step." />
    </FormLayout>
  );
}
