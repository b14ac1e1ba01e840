import { raw } from '../../lib/db';
import { orderFiltersOf, type OrderFilters } from './audience';
import type { CampaignStatus } from './send-context';

export interface Audience extends OrderFilters {
  tags?: string[];
}

/** The published campaign shape (api.md, Campaigns). */
export interface CampaignView {
  id: string;
  name: string;
  body: string;
  audience: Audience;
  status: CampaignStatus;
  scheduledAt: string | null;
  /** Send even to contacts inside the shop's smart-sending window (their messages still count against later campaigns). */
  ignoreSmartSending: boolean;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  completedAt: string | null;
}

export interface CampaignRow {
  id: string;
  shop_id: string;
  name: string;
  body: string;
  audience: unknown;
  status: CampaignStatus;
  scheduled_at: Date | null;
  segments_per_message: number | null;
  /** Optional for rows read by queries that predate it (false when absent). */
  ignore_smart_sending?: boolean;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

/** The columns every campaign query returns (alias-free, for single-table statements). */
export const CAMPAIGN_COLUMNS = raw(
  'id, shop_id, name, body, audience, status, scheduled_at, segments_per_message, ignore_smart_sending, created_at, updated_at, started_at, completed_at',
);

/** The audience as published: its tags and the order filters launch applies (read as audience.ts reads them). */
export function audienceOf(raw: unknown): Audience {
  const tags = (raw as { tags?: unknown } | null)?.tags;
  const orders = orderFiltersOf(raw);
  const strip = <T extends object>(o: T | undefined): T | undefined =>
    o ? (Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T) : undefined;
  return {
    ...(Array.isArray(tags) ? { tags: tags.filter((t): t is string => typeof t === 'string') } : {}),
    ...(orders?.ordersCount ? { ordersCount: strip(orders.ordersCount) } : {}),
    ...(orders?.amountSpent ? { amountSpent: strip(orders.amountSpent) } : {}),
    ...(orders?.lastOrderAt ? { lastOrderAt: strip(orders.lastOrderAt) } : {}),
  };
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toCampaignView(r: CampaignRow): CampaignView {
  return {
    id: r.id,
    name: r.name,
    body: r.body,
    audience: audienceOf(r.audience),
    status: r.status,
    scheduledAt: iso(r.scheduled_at),
    ignoreSmartSending: r.ignore_smart_sending ?? false,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    startedAt: iso(r.started_at),
    completedAt: iso(r.completed_at),
  };
}
