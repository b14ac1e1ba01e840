// The api's flow shapes (docs/api.md, "Flows") as the admin reads them.

export type FlowStatus = 'draft' | 'live' | 'paused';
export type TriggerType = 'contact_subscribed' | 'checkout_abandoned' | 'order_created';

export type FlowTrigger = { type: 'contact_subscribed' } | { type: 'checkout_abandoned'; delayMinutes: number } | { type: 'order_created' };

export type WaitUnit = 'minutes' | 'hours' | 'days';

export type ConditionCheck =
  | { kind: 'hasOrderedSinceTrigger'; is: boolean }
  | { kind: 'consent'; is: 'subscribed' | 'unsubscribed' | 'pending' }
  | { kind: 'tag'; tag: string; is: boolean };

export type FlowStep =
  | { type: 'wait'; duration: { amount: number; unit: WaitUnit } }
  | { type: 'wait'; untilLocalTime: { from: string; to: string } }
  | { type: 'send'; body: string; discountCode?: string | null }
  | { type: 'condition'; check: ConditionCheck; otherwise: 'exit' | { goTo: number } };

export type SmartSending = { mode: 'apply' } | { mode: 'exempt' } | { mode: 'exempt_within'; withinMinutes: number };

export interface FlowVersion {
  id: string;
  version: number;
  steps: FlowStep[];
  exitCondition: { orderPlaced: boolean };
  smartSending: SmartSending;
  createdAt: string;
}

export interface Flow {
  id: string;
  name: string;
  trigger: FlowTrigger;
  status: FlowStatus;
  currentVersion: FlowVersion | null;
  createdAt: string;
  updatedAt: string;
  activatedAt: string | null;
  /** On the list only: runs in progress. */
  activeRuns?: number;
}

export interface FlowDetail extends Flow {
  versions: { id: string; version: number; stepCount: number; createdAt: string; runs: { active: number; total: number } }[];
}

/** The body a flow is created or edited with. */
export interface FlowInput {
  name: string;
  trigger: FlowTrigger;
  steps: FlowStep[];
  exitCondition: { orderPlaced: boolean };
  smartSending: SmartSending;
}

export interface FlowRun {
  id: string;
  flowId: string;
  versionId: string;
  version: number;
  contactId: string;
  triggerType: string;
  status: 'active' | 'completed' | 'exited';
  currentStep: number;
  nextDueAt: string | null;
}

/** POST /api/flows/preview: a send step's text as a contact without a name gets it, and its count. */
export interface FlowMessagePreview {
  text: string;
  encoding: 'GSM-7' | 'UCS-2';
  characters: number;
  segments: number;
  /** The body's links, in order: each is sent as the text's own short link of `shortLinkLength` characters. */
  links: string[];
  shortLinkLength?: number;
}

/** Clicks on a flow's (or a step's) links and the orders attributed to its texts; absent from an api that does not give them. */
export interface FlowClicksAndOrders {
  clicks?: number;
  uniqueClicks?: number;
  botClicks?: number;
  attributedOrders?: number;
  attributedRevenue?: { currency: string; amount: string }[];
  clickAttributedOrders?: number;
  clickAttributedRevenue?: { currency: string; amount: string }[];
}

export interface FlowRunCounts {
  active: number;
  exited: number;
  exitedByReason: Record<string, number>;
}

export interface FlowMessageCounts {
  sent: number;
  delivered: number;
  undelivered: number;
  failed: number;
  unknown: number;
  sending: number;
  skipped: number;
  skippedByReason: Record<string, number>;
  creditsSpent: number;
}

/** GET /api/flows/:id/stats: the flow's runs and texts, in all and per step (a step index only an older version had: type null). */
export interface FlowStats extends FlowClicksAndOrders {
  flowId: string;
  runs: FlowRunCounts & { started: number; completed: number };
  messages: FlowMessageCounts;
  steps: ({ index: number; type: FlowStep['type'] | null; runs: FlowRunCounts; messages: FlowMessageCounts } & FlowClicksAndOrders)[];
}
