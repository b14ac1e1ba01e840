import { z } from 'zod';
import { BLANK_BODY } from '../campaigns/campaign-input';
import { tagField, text } from '../contacts/contact-input';
import { FLOW_PLACEHOLDERS, parseTemplate } from '../messaging/template';
import { jsonbTextBytes } from './jsonb-text-bytes';

// Request schemas for /api/flows and the shape of a version's steps. Every
// rule a flow must obey to be saved is here, so a bad flow is a 400 at
// validation time, before an idempotency key is claimed or anything is
// written. What only matters to go live (a send step, a body using
// {{checkoutUrl}} only on a checkout trigger) is checked by activation too
// (readyToGoLive), since a draft may be saved half-written.

export const FLOW_STATUSES = ['draft', 'live', 'paused'] as const;
export type FlowStatus = (typeof FLOW_STATUSES)[number];

export const TRIGGER_TYPES = ['contact_subscribed', 'checkout_abandoned', 'order_created'] as const;
export type TriggerType = (typeof TRIGGER_TYPES)[number];

export const MAX_STEPS = 20;
export const MAX_WAIT_SECONDS = 90 * 24 * 3600;
/** Per shop: flows are a handful per merchant; the bound keeps one tenant from filling the table. */
export const MAX_FLOWS_PER_SHOP = 100;
/** Per flow: its edit history (a draft keeps only its current version and those its test runs use). */
export const MAX_VERSIONS_PER_FLOW = 200;
/** Per flow: test runs in progress (each texts a contact of the merchant's choosing; a long wait keeps one in flight for days). */
export const MAX_TEST_RUNS_IN_FLIGHT = 10;
/** Per shop: test runs started within the last hour, whatever became of them (each is a row kept with the flow's history). */
export const MAX_TEST_RUNS_PER_HOUR = 60;
/** The abandoned-checkout default: the first message an hour after the checkout was last touched. */
export const DEFAULT_ABANDONED_DELAY_MINUTES = 60;

const UNIT_SECONDS = { minutes: 60, hours: 3600, days: 86_400 } as const;

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24 h)');

const waitStep = z
  .strictObject({
    type: z.literal('wait'),
    /** A fixed delay … */
    duration: z.strictObject({ amount: z.number().int().min(1).max(MAX_WAIT_SECONDS / 60), unit: z.enum(['minutes', 'hours', 'days']) }).optional(),
    /** … or until the recipient's local clock is inside [from, to) (now, if it already is). */
    untilLocalTime: z
      .strictObject({ from: hhmm, to: hhmm })
      .refine((w) => w.from !== w.to, { message: 'from and to must differ', path: ['to'] })
      .optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.duration === undefined) === (s.untilLocalTime === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of duration or untilLocalTime' });
    }
    if (s.duration && s.duration.amount * UNIT_SECONDS[s.duration.unit] > MAX_WAIT_SECONDS) {
      ctx.addIssue({ code: 'custom', message: 'a wait is at most 90 days', path: ['duration'] });
    }
  });

/** What flow_versions_steps_check allows a version's steps: `octet_length(steps::text)`. */
export const MAX_STEPS_JSON_BYTES = 131_072;

/** Campaign body rules (1..1 600 characters, a valid template) with the flow placeholders: what a stored version's bodies were saved under. */
export const flowBodySchema = z
  .string()
  .min(1)
  .max(1600)
  .superRefine((body, ctx) => {
    const parsed = parseTemplate(body, FLOW_PLACEHOLDERS);
    if (!parsed.ok) for (const e of parsed.errors) ctx.addIssue({ code: 'custom', message: e.message });
  });

// C0 controls other than tab and line breaks, DEL and C1 controls: nothing a
// text message shows, and each is stored as a 6-byte `\u00XX` escape in the
// version's JSON, so 14 bodies of them outgrew the database's bound on a
// version (a 500 where a 400 belongs). Tabs and newlines are text a merchant
// types (a campaign body has them too). NUL and unpaired surrogates are the
// template parser's to name (it refuses what Postgres cannot store).
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const BODY_CONTROL = /[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** What a request's body may not be beyond the stored rules: blank (a text of spaces, charged like any), or with control characters. */
function bodyInputProblem(body: string): string | null {
  if (body.trim() === '') return BLANK_BODY;
  const at = body.search(BODY_CONTROL);
  if (at < 0) return null;
  return `must not contain control characters other than tabs and line breaks (U+${body.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0')} at index ${at})`;
}

/**
 * A body as a request may give it (a new version, a preview): the stored
 * rules, not blank and no control characters. Not part of `stepsSchema`, which also
 * reads the versions saved before this rule (execution parses them).
 */
export const flowBodyInputSchema = flowBodySchema.superRefine((body, ctx) => {
  const problem = bodyInputProblem(body);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A send step's discount code: what {{discountCode}} renders (the preview takes the same rule). */
export const discountCodeField = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, - and _ only, at most 64');

const sendStep = z.strictObject({
  type: z.literal('send'),
  body: flowBodySchema,
  /** The code {{discountCode}} renders; a body using the placeholder needs one. */
  discountCode: discountCodeField.nullable().optional(),
});

const conditionCheck = z.discriminatedUnion('kind', [
  /** An order from the contact after the run's trigger (is: whether one must exist to continue). */
  z.strictObject({ kind: z.literal('hasOrderedSinceTrigger'), is: z.boolean() }),
  z.strictObject({ kind: z.literal('consent'), is: z.enum(['subscribed', 'unsubscribed', 'pending']) }),
  z.strictObject({ kind: z.literal('tag'), tag: tagField, is: z.boolean() }),
]);

const conditionStep = z.strictObject({
  type: z.literal('condition'),
  /** When it holds, the run goes on to the next step ... */
  check: conditionCheck,
  /** ... otherwise it exits, or jumps forward to the step at this index (never back: no loops). */
  otherwise: z.union([z.literal('exit'), z.strictObject({ goTo: z.number().int().min(1).max(MAX_STEPS - 1) })]).default('exit'),
});

export const stepSchema = z.discriminatedUnion('type', [waitStep, sendStep, conditionStep]);
export type FlowStep = z.infer<typeof stepSchema>;
export type WaitStep = z.infer<typeof waitStep>;
export type SendStep = z.infer<typeof sendStep>;
export type ConditionStep = z.infer<typeof conditionStep>;

export const stepsSchema = z
  .array(stepSchema)
  .max(MAX_STEPS)
  .superRefine((steps, ctx) => {
    steps.forEach((s, i) => {
      if (s.type === 'condition' && typeof s.otherwise === 'object' && (s.otherwise.goTo <= i || s.otherwise.goTo >= steps.length)) {
        ctx.addIssue({ code: 'custom', message: `goTo must name a later step (${i + 1}..${steps.length - 1})`, path: [i, 'otherwise', 'goTo'] });
      }
      if (s.type === 'send' && /\{\{\s*discountCode\s*(\||\}\})/.test(s.body) && !s.discountCode) {
        ctx.addIssue({ code: 'custom', message: 'the body uses {{discountCode}}: give discountCode', path: [i, 'discountCode'] });
      }
    });
  });

/**
 * Steps as a request gives them (a new version): the stored rules, bodies
 * without control characters, and within flow_versions_steps_check's bound on
 * their stored JSON. The body rules bound that already (20 bodies of 1 600
 * three-byte characters are ~97 KB); it is checked so that the database's
 * CHECK is never the one to refuse a flow (a 500), whatever the step rules
 * become.
 */
export const stepsInputSchema = stepsSchema.superRefine((steps, ctx) => {
  steps.forEach((s, i) => {
    const problem = s.type === 'send' ? bodyInputProblem(s.body) : null;
    if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [i, 'body'] });
  });
  const bytes = jsonbTextBytes(steps);
  if (bytes > MAX_STEPS_JSON_BYTES) ctx.addIssue({ code: 'custom', message: `the steps take ${bytes} bytes stored, at most ${MAX_STEPS_JSON_BYTES}` });
});

/** Besides STOP (which always ends every run of the contact): end the run when the contact orders after the trigger. */
export const exitConditionSchema = z.strictObject({ orderPlaced: z.boolean() });
export type ExitCondition = z.infer<typeof exitConditionSchema>;

/**
 * Smart sending (the shop's frequency cap) applies to flow messages unless
 * the flow is exempt: always, or only while the run is younger than
 * `withinMinutes` (an abandoned checkout's first reminder).
 */
export const smartSendingSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('apply') }),
  z.strictObject({ mode: z.literal('exempt') }),
  z.strictObject({ mode: z.literal('exempt_within'), withinMinutes: z.number().int().min(1).max(7 * 24 * 60) }),
]);
export type SmartSending = z.infer<typeof smartSendingSchema>;

const subscribedConfig = z.strictObject({ type: z.literal('contact_subscribed') });
const checkoutConfig = z.strictObject({
  type: z.literal('checkout_abandoned'),
  /** Idle time after the checkout's last update before it counts as abandoned and the run's first step is due. */
  delayMinutes: z.number().int().min(10).max(7 * 24 * 60).default(DEFAULT_ABANDONED_DELAY_MINUTES),
});
const orderConfig = z.strictObject({ type: z.literal('order_created') });
export const triggerSchema = z.discriminatedUnion('type', [subscribedConfig, checkoutConfig, orderConfig]);
export type FlowTrigger = z.infer<typeof triggerSchema>;

/** What a flow's version holds (also the PATCH fields that write a new one). */
export interface VersionContent {
  steps: FlowStep[];
  exitCondition: ExitCondition;
  smartSending: SmartSending;
}

/** Defaults by trigger: a welcome or checkout flow ends when the contact orders; a post-purchase one does not. */
export function defaultExitCondition(trigger: TriggerType): ExitCondition {
  return { orderPlaced: trigger !== 'order_created' };
}

export const createFlowSchema = z.strictObject({
  name: text(200),
  trigger: triggerSchema,
  steps: stepsInputSchema.default([]),
  exitCondition: exitConditionSchema.optional(),
  smartSending: smartSendingSchema.default({ mode: 'apply' }),
});
export type CreateFlowInput = z.infer<typeof createFlowSchema>;

export const updateFlowSchema = z
  .strictObject({
    name: text(200).optional(),
    trigger: triggerSchema.optional(),
    steps: stepsInputSchema.optional(),
    exitCondition: exitConditionSchema.optional(),
    smartSending: smartSendingSchema.optional(),
  })
  .refine((u) => Object.values(u).some((v) => v !== undefined), 'give at least one field to change');
export type UpdateFlowInput = z.infer<typeof updateFlowSchema>;

export const listFlowsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(500).optional(),
  status: z.enum(FLOW_STATUSES).optional(),
});

export const testFlowSchema = z.strictObject({ contactId: z.uuid() });

/** Seconds a wait of this duration lasts. */
export function waitSeconds(d: NonNullable<WaitStep['duration']>): number {
  return d.amount * UNIT_SECONDS[d.unit];
}

export interface GoLiveProblem {
  path: string;
  message: string;
}

/**
 * What a flow needs before it may start runs: at least one send step, and
 * {{checkoutUrl}} only where the run has a checkout. Bodies and bounds were
 * proved when the version was saved.
 */
export function goLiveProblems(trigger: TriggerType, steps: readonly FlowStep[]): GoLiveProblem[] {
  const problems: GoLiveProblem[] = [];
  if (!steps.some((s) => s.type === 'send')) problems.push({ path: 'steps', message: 'a live flow needs at least one send step' });
  if (trigger !== 'checkout_abandoned') {
    steps.forEach((s, i) => {
      if (s.type === 'send' && /\{\{\s*checkoutUrl\s*(\||\}\})/.test(s.body)) {
        problems.push({ path: `steps.${i}.body`, message: '{{checkoutUrl}} is only known to an abandoned-checkout flow' });
      }
    });
  }
  return problems;
}
