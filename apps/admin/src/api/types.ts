// The api's published shapes (docs/api.md) as the admin reads them.

export type CampaignStatus = 'draft' | 'queued' | 'scheduled' | 'sending' | 'completed' | 'cancelled' | 'failed';

export interface Range {
  min?: number;
  max?: number;
}

/** docs/api.md: contacts with any of `tags`, narrowed by the order filters (inclusive ranges). */
export interface Audience {
  tags?: string[];
  ordersCount?: Range;
  amountSpent?: Range;
  lastOrderAt?: { from?: string; to?: string };
}

export interface Campaign extends Partial<CampaignPerformance> {
  id: string;
  name: string;
  body: string;
  audience: Audience;
  status: CampaignStatus;
  scheduledAt: string | null;
  ignoreSmartSending?: boolean;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  completedAt: string | null;
}

/** What a campaign earned (on its stats and on every campaign of the list). */
export interface CampaignPerformance {
  /** Texts that went out (accepted by the provider, delivered or not): the base of the rates. */
  messagesSent: number;
  clicks: number;
  uniqueClicks: number;
  botClicks: number;
  clickRate: number | null;
  attributedOrders: number;
  attributedRevenue: { currency: string; orders: number; amount: string; perMessage: string | null; perCredit: string | null }[];
}

export interface CampaignStats extends Partial<CampaignPerformance> {
  status: CampaignStatus;
  total: number;
  pending: number;
  sending: number;
  sent: number;
  delivered: number;
  failed: number;
  skipped: number;
  cancelled: number;
  unknown: number;
  creditsReserved: number;
  creditsDebited: number;
  creditsReleased: number;
  startedAt: string | null;
  completedAt: string | null;
  /** Of skipped, those smart sending held back (texted within the shop's window). */
  skippedFrequencyCap?: number;
  /** Of skipped, those whose quiet hours never opened within 8 days. */
  skippedQuietHours?: number;
  /** Of pending, those waiting for their quiet hours to end. */
  deferred?: number;
  /** While it sends: when the first of them is due again (null when none waits). */
  deferredUntil?: string | null;
}

export interface TimeseriesPoint {
  at: string;
  sent: number;
  delivered: number;
  failed: number;
}

/** GET /api/campaigns/:id/timeseries: zero-filled buckets, oldest first (none before the launch). */
export interface CampaignTimeseries {
  bucketSeconds: number | null;
  from: string | null;
  to: string | null;
  points: TimeseriesPoint[];
}

export interface Preview {
  text: string;
  encoding: 'GSM-7' | 'UCS-2';
  characters: number;
  segments: number;
  recipients: number;
  credits: number;
  /** The body's tracked links, in order: each is sent as the recipient's own short link of `shortLinkLength` characters. */
  links?: string[];
  shortLinkLength?: number;
  /** Who smart sending and quiet hours would hold back if it were sent now (null when asked with sendTiming: false). */
  frequencyCapped?: number | null;
  recipientsAfterCap?: number | null;
  deferredNow?: number | null;
  /** Those whose quiet hours never open within 8 days (the shop's window against the US/CA floor): skipped, not charged. */
  quietHoursSkipped?: number | null;
}

export interface EnqueueResult {
  campaign: Campaign;
  recipients: number;
  creditsReserved: number;
}

export interface Wallet {
  balance: number;
  reserved: number;
  available: number;
  /** Part of `reserved` held while a payment of a pack is disputed; absent when none is. */
  held?: number;
}

export interface WalletTransaction {
  id: string;
  type: 'purchase' | 'debit' | 'refund' | 'grant' | 'adjustment';
  amount: number;
  balanceAfter: number;
  reference: string | null;
  createdAt: string;
}

export interface Shop {
  id: string;
  domain: string;
  status: string;
  timezone: string;
  quietHours: { start: string; end: string };
  optOutFooter: boolean;
  senderId: string;
  smartSending?: { enabled: boolean; windowHours: number };
  attribution?: { clickWindowHours: number; viewWindowHours: number };
  /** Set when quietHours and the US/CA floor (21:00–08:00) cover the whole day: those numbers are never texted. */
  quietHoursWarning?: QuietHoursWarning | null;
}

export interface QuietHoursWarning {
  code: string;
  message: string;
}

/** POST /api/shop/quiet-hours/preview: the warning saving these quiet hours would answer, nothing saved. */
export interface QuietHoursPreview {
  quietHoursWarning: QuietHoursWarning | null;
}

export interface CreditPack {
  id: string;
  credits: number;
  amount: number;
  currency: string;
}

export type Consent = 'subscribed' | 'unsubscribed' | 'pending';

export interface Contact {
  id: string;
  phone: string;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  smsConsent: Consent;
  tags: string[];
  /** IANA zone quiet hours apply in; null: inferred from the phone number. */
  timezone?: string | null;
  optedOutAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ImportRejection {
  row: number;
  code: string;
  message: string;
}

export interface ContactImport {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  total: number;
  processed: number;
  created: number;
  updated: number;
  rejected: ImportRejection[];
  rejectedCount: number;
  error: string | null;
}
