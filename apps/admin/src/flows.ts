import type { ConditionCheck, Flow, FlowInput, FlowStatus, FlowStep, FlowTrigger, SmartSending, TriggerType, WaitUnit } from './api/flow-types';

// The flow editor's form and its translation to and from the api's shape
// (docs/api.md, "Flows"), the starting templates and the words a merchant
// reads for triggers and steps.

export const TRIGGER_LABEL: Record<TriggerType, string> = {
  contact_subscribed: 'Contact subscribes',
  checkout_abandoned: 'Checkout abandoned',
  order_created: 'Order placed',
};

export const TRIGGER_OPTIONS = (Object.keys(TRIGGER_LABEL) as TriggerType[]).map((value) => ({ label: TRIGGER_LABEL[value], value }));

export const FLOW_STATUS_LABEL: Record<FlowStatus, string> = { draft: 'Draft', live: 'Live', paused: 'Paused' };

export function triggerText(t: FlowTrigger): string {
  return t.type === 'checkout_abandoned' ? `${TRIGGER_LABEL[t.type]} (after ${durationText(t.delayMinutes, 'minutes')})` : TRIGGER_LABEL[t.type];
}

function durationText(amount: number, unit: WaitUnit): string {
  if (unit === 'minutes' && amount % 60 === 0) return durationText(amount / 60, 'hours');
  const one = unit.slice(0, -1);
  return `${amount} ${amount === 1 ? one : unit}`;
}

const CONSENT_WORD = { subscribed: 'subscribed', unsubscribed: 'unsubscribed', pending: 'pending' } as const;

export function checkText(c: ConditionCheck): string {
  if (c.kind === 'hasOrderedSinceTrigger') return c.is ? 'Has ordered since the trigger' : 'Has not ordered since the trigger';
  if (c.kind === 'consent') return `SMS consent is ${CONSENT_WORD[c.is]}`;
  return c.is ? `Has the tag “${c.tag}”` : `Does not have the tag “${c.tag}”`;
}

/** One line per step, for the detail page. */
export function stepText(s: FlowStep): string {
  if (s.type === 'wait') return 'duration' in s ? `Wait ${durationText(s.duration.amount, s.duration.unit)}` : `Wait until ${s.untilLocalTime.from}–${s.untilLocalTime.to} in the contact's time zone`;
  if (s.type === 'send') return `Send: ${s.body}${s.discountCode ? ` (code ${s.discountCode})` : ''}`;
  const otherwise = s.otherwise === 'exit' ? 'otherwise end the run' : `otherwise go to step ${s.otherwise.goTo + 1}`;
  return `If: ${checkText(s.check)}; ${otherwise}`;
}

export function smartSendingText(s: SmartSending): string {
  if (s.mode === 'apply') return 'Smart sending applies';
  if (s.mode === 'exempt') return 'Exempt from smart sending';
  return `Exempt from smart sending for ${durationText(s.withinMinutes, 'minutes')} after the trigger`;
}

export type StepType = FlowStep['type'];
type YesNo = 'yes' | 'no';

/** One step as the editor holds it: every field a step type may have, as typed; `key` survives reordering. */
export interface StepForm {
  key: string;
  type: StepType;
  waitMode: 'duration' | 'window';
  amount: string;
  unit: WaitUnit;
  from: string;
  to: string;
  body: string;
  discountCode: string;
  checkKind: ConditionCheck['kind'];
  ordered: YesNo;
  consent: 'subscribed' | 'unsubscribed' | 'pending';
  tag: string;
  tagIs: YesNo;
  /** 'exit', or the key of the step to go to (a later one). */
  otherwise: string;
}

export interface FlowForm {
  name: string;
  triggerType: TriggerType;
  delayMinutes: string;
  steps: StepForm[];
  orderPlaced: boolean;
  smartMode: SmartSending['mode'];
  withinMinutes: string;
}

let keySeq = 0;
const newKey = (): string => `s${++keySeq}`;

export function blankStep(type: StepType): StepForm {
  return {
    key: newKey(),
    type,
    waitMode: 'duration',
    amount: '1',
    unit: 'days',
    from: '10:00',
    to: '20:00',
    body: '',
    discountCode: '',
    checkKind: 'hasOrderedSinceTrigger',
    ordered: 'no',
    consent: 'subscribed',
    tag: '',
    tagIs: 'yes',
    otherwise: 'exit',
  };
}

function stepFormOf(s: FlowStep, keys: string[], i: number): StepForm {
  const f = { ...blankStep(s.type), key: keys[i]! };
  if (s.type === 'wait') {
    if ('duration' in s) return { ...f, waitMode: 'duration', amount: String(s.duration.amount), unit: s.duration.unit };
    return { ...f, waitMode: 'window', from: s.untilLocalTime.from, to: s.untilLocalTime.to };
  }
  if (s.type === 'send') return { ...f, body: s.body, discountCode: s.discountCode ?? '' };
  const c = s.check;
  const otherwise = s.otherwise === 'exit' ? 'exit' : (keys[s.otherwise.goTo] ?? 'exit');
  if (c.kind === 'hasOrderedSinceTrigger') return { ...f, checkKind: c.kind, ordered: c.is ? 'yes' : 'no', otherwise };
  if (c.kind === 'consent') return { ...f, checkKind: c.kind, consent: c.is, otherwise };
  return { ...f, checkKind: c.kind, tag: c.tag, tagIs: c.is ? 'yes' : 'no', otherwise };
}

export function formOf(f: Pick<Flow, 'name' | 'trigger' | 'currentVersion'>): FlowForm {
  const steps = f.currentVersion?.steps ?? [];
  const keys = steps.map(() => newKey());
  const smart = f.currentVersion?.smartSending ?? { mode: 'apply' };
  return {
    name: f.name,
    triggerType: f.trigger.type,
    delayMinutes: f.trigger.type === 'checkout_abandoned' ? String(f.trigger.delayMinutes) : '60',
    steps: steps.map((s, i) => stepFormOf(s, keys, i)),
    orderPlaced: f.currentVersion?.exitCondition.orderPlaced ?? f.trigger.type !== 'order_created',
    smartMode: smart.mode,
    withinMinutes: smart.mode === 'exempt_within' ? String(smart.withinMinutes) : '60',
  };
}

const WHOLE = /^\d+$/;

/** Errors the browser can tell before asking the api, by form field (see errorKey). */
export function localErrors(f: FlowForm): Record<string, string> {
  const out: Record<string, string> = {};
  if (f.triggerType === 'checkout_abandoned' && !WHOLE.test(f.delayMinutes.trim())) out.delayMinutes = 'Enter a whole number of minutes';
  if (f.smartMode === 'exempt_within' && !WHOLE.test(f.withinMinutes.trim())) out.withinMinutes = 'Enter a whole number of minutes';
  f.steps.forEach((s, i) => {
    if (s.type === 'wait' && s.waitMode === 'duration' && !WHOLE.test(s.amount.trim())) out[errorKey(i, 'amount')] = 'Enter a whole number';
  });
  return out;
}

/** What the api receives. Numbers are only read once localErrors has none. */
export function inputOf(f: FlowForm): FlowInput {
  const trigger: FlowTrigger = f.triggerType === 'checkout_abandoned' ? { type: f.triggerType, delayMinutes: Number(f.delayMinutes) } : { type: f.triggerType };
  const steps = f.steps.map((s): FlowStep => {
    if (s.type === 'wait') return s.waitMode === 'duration' ? { type: 'wait', duration: { amount: Number(s.amount), unit: s.unit } } : { type: 'wait', untilLocalTime: { from: s.from, to: s.to } };
    if (s.type === 'send') return { type: 'send', body: s.body, discountCode: s.discountCode.trim() || null };
    const check: ConditionCheck =
      s.checkKind === 'hasOrderedSinceTrigger' ? { kind: s.checkKind, is: s.ordered === 'yes' } : s.checkKind === 'consent' ? { kind: s.checkKind, is: s.consent } : { kind: s.checkKind, tag: s.tag, is: s.tagIs === 'yes' };
    const target = f.steps.findIndex((t) => t.key === s.otherwise);
    return { type: 'condition', check, otherwise: target < 0 ? 'exit' : { goTo: target } };
  });
  const smartSending: SmartSending = f.smartMode === 'exempt_within' ? { mode: f.smartMode, withinMinutes: Number(f.withinMinutes) } : { mode: f.smartMode };
  return { name: f.name.trim(), trigger, steps, exitCondition: { orderPlaced: f.orderPlaced }, smartSending };
}

export function errorKey(step: number, field: keyof StepForm | 'step'): string {
  return `steps.${step}.${field}`;
}

/** A step's sub-path in a 400 (`steps.2.duration.amount`) → the form field showing it. */
function stepFieldOf(rest: string[]): keyof StepForm | 'step' {
  const [head, sub] = rest;
  if (head === 'duration') return 'amount';
  if (head === 'untilLocalTime') return sub === 'from' ? 'from' : 'to';
  if (head === 'body' || head === 'discountCode') return head;
  if (head === 'check') return sub === 'tag' ? 'tag' : 'checkKind';
  if (head === 'otherwise') return 'otherwise';
  return 'step';
}

/** The api's 400 details by form field; what names no field is returned in `other`. */
export function fieldErrorsOf(details: Record<string, string>): { fields: Record<string, string>; other: string[] } {
  const fields: Record<string, string> = {};
  const other: string[] = [];
  const put = (k: string, m: string) => {
    if (!fields[k]) fields[k] = m;
  };
  for (const [path, message] of Object.entries(details)) {
    const parts = path.split('.');
    if (path === 'name') put('name', message);
    else if (parts[0] === 'trigger') put(parts[1] === 'delayMinutes' ? 'delayMinutes' : 'triggerType', message);
    else if (parts[0] === 'smartSending') put(parts[1] === 'withinMinutes' ? 'withinMinutes' : 'smartMode', message);
    else if (parts[0] === 'steps' && parts[1] !== undefined && /^\d+$/.test(parts[1])) put(errorKey(Number(parts[1]), stepFieldOf(parts.slice(2))), message);
    else other.push(message);
  }
  return { fields, other };
}

export type TemplateId = 'welcome' | 'abandoned' | 'post-purchase';

export const TEMPLATES: { id: TemplateId; title: string; description: string }[] = [
  { id: 'welcome', title: 'Welcome series', description: 'Greet new subscribers with a discount, and remind them two days later if they have not ordered.' },
  { id: 'abandoned', title: 'Abandoned checkout', description: 'Bring shoppers back to their cart an hour after they leave it, with a code a day later.' },
  { id: 'post-purchase', title: 'Post-purchase', description: 'Thank customers a few days after their order and invite them back with a code.' },
];

/** A flow prefilled from a template, ready to review and save as a draft. */
export function templateFlow(id: TemplateId): Pick<Flow, 'name' | 'trigger' | 'currentVersion'> {
  const version = (steps: FlowStep[], smartSending: SmartSending, orderPlaced: boolean): Flow['currentVersion'] => ({ id: '', version: 0, steps, exitCondition: { orderPlaced }, smartSending, createdAt: '' });
  if (id === 'welcome') {
    return {
      name: 'Welcome series',
      trigger: { type: 'contact_subscribed' },
      currentVersion: version(
        [
          { type: 'send', body: 'Welcome to {{shopName}}, {{firstName|there}}! Here is 10% off your first order: {{discountCode}}', discountCode: 'WELCOME10' },
          { type: 'wait', duration: { amount: 2, unit: 'days' } },
          { type: 'condition', check: { kind: 'hasOrderedSinceTrigger', is: false }, otherwise: 'exit' },
          { type: 'send', body: 'Still thinking it over? Your code {{discountCode}} is waiting at {{shopName}}.', discountCode: 'WELCOME10' },
        ],
        { mode: 'apply' },
        true,
      ),
    };
  }
  if (id === 'abandoned') {
    return {
      name: 'Abandoned checkout',
      trigger: { type: 'checkout_abandoned', delayMinutes: 60 },
      currentVersion: version(
        [
          { type: 'send', body: '{{firstName|Hi}}, you left something in your cart at {{shopName}}. Complete your order: {{checkoutUrl}}' },
          { type: 'wait', duration: { amount: 1, unit: 'days' } },
          { type: 'send', body: 'Your cart is still waiting. Take 10% off with {{discountCode}}: {{checkoutUrl}}', discountCode: 'COMEBACK10' },
        ],
        // The first reminder follows the customer's own visit, as peers allow; the second obeys the cap.
        { mode: 'exempt_within', withinMinutes: 120 },
        true,
      ),
    };
  }
  return {
    name: 'Post-purchase thank you',
    trigger: { type: 'order_created' },
    currentVersion: version(
      [
        { type: 'wait', duration: { amount: 3, unit: 'days' } },
        { type: 'wait', untilLocalTime: { from: '10:00', to: '19:00' } },
        { type: 'send', body: 'Thanks for your order from {{shopName}}, {{firstName|there}}! Here is 15% off your next one: {{discountCode}}', discountCode: 'THANKS15' },
      ],
      { mode: 'apply' },
      false,
    ),
  };
}

export function isTemplateId(v: string | null): v is TemplateId {
  return v === 'welcome' || v === 'abandoned' || v === 'post-purchase';
}
