import type { Consent } from './contact-input';

/** The columns every contact query selects (erased rows are never viewed). */
export interface ContactRow {
  id: string;
  phone_e164: string | null;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  sms_consent: Consent;
  tags: string[];
  /** Optional for rows read by queries that predate it (null when absent). */
  timezone?: string | null;
  opted_out_at: Date | null;
  opt_out_source: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface ContactView {
  id: string;
  phone: string;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  smsConsent: Consent;
  tags: string[];
  /** The contact's IANA zone for quiet hours; null: inferred from the phone number at send time. */
  timezone: string | null;
  optedOutAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export function toContactView(r: ContactRow): ContactView {
  return {
    id: r.id,
    phone: r.phone_e164 ?? '',
    email: r.email,
    firstName: r.first_name,
    lastName: r.last_name,
    smsConsent: r.sms_consent,
    tags: r.tags,
    timezone: r.timezone ?? null,
    optedOutAt: r.opted_out_at?.toISOString() ?? null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}
