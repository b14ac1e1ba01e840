import type { Tx } from '../../lib/db';
import { customerPhoneHashes, matchesCustomer, type CustomerRef } from './customer-ref';

/**
 * customers/data_request: everything we hold on one customer of a shop (the
 * contact, the campaign and flow messages sent to it, the texts it sent and the keyword replies they got,
 * its orders, checkouts, clicks and consent record) assembled into a
 * privacy request the merchant reads at GET /api/privacy/requests/:id.
 * The request id is the webhook event's, so a replay writes nothing twice.
 */
export async function exportCustomerData(
  tx: Tx,
  r: { requestId: string; shopId: string; customer: CustomerRef; shopifyRequestId?: string | null; ordersRequested?: string[] },
): Promise<{ contacts: number }> {
  const contacts = await tx.$queryRaw<
    { id: string; phone_e164: string | null; phone_hash: string; email: string | null; first_name: string | null; last_name: string | null; sms_consent: string; tags: string[]; opted_out_at: Date | null; opt_out_source: string | null; shopify_customer_id: string | null; erased_at: Date | null; created_at: Date; updated_at: Date }[]
  >`
    SELECT id, phone_e164, phone_hash, email, first_name, last_name, sms_consent, tags, opted_out_at, opt_out_source, shopify_customer_id, erased_at, created_at, updated_at
      FROM contacts c WHERE c.shop_id = ${r.shopId}::uuid AND ${matchesCustomer(r.customer)}`;
  const ids = contacts.map((c) => c.id);
  const hashes = customerPhoneHashes(r.customer, contacts.map((c) => c.phone_hash));
  const messages = ids.length
    ? await tx.$queryRaw<{ contact_id: string; campaign_id: string; campaign_name: string; status: string; segments: number | null; sent_at: Date | null; final_at: Date | null; error_code: string | null }[]>`
        SELECT cr.contact_id, cr.campaign_id, c.name AS campaign_name, cr.status, cr.segments, cr.sent_at, cr.final_at, cr.error_code
          FROM campaign_recipients cr JOIN campaigns c ON c.id = cr.campaign_id
         WHERE cr.contact_id = ANY(${ids}::uuid[])
         ORDER BY cr.id`
    : [];
  // Through the contact's runs: flow_messages has no index on the contact for messages that were never sent.
  const flowMessages = ids.length
    ? await tx.$queryRaw<{ contact_id: string; flow_id: string; flow_name: string | null; step: number; status: string; skip_reason: string | null; segments: number | null; sent_at: Date | null; delivered_at: Date | null; final_at: Date | null; error_code: string | null }[]>`
        SELECT m.contact_id, m.flow_id, f.name AS flow_name, m.step, m.status, m.skip_reason, m.segments, m.sent_at, m.delivered_at, m.final_at, m.error_code
          FROM flow_runs r
          JOIN flow_messages m ON m.run_id = r.id
          LEFT JOIN flows f ON f.id = m.flow_id AND f.shop_id = m.shop_id
         WHERE r.shop_id = ${r.shopId}::uuid AND r.contact_id = ANY(${ids}::uuid[]) AND m.shop_id = ${r.shopId}::uuid
         ORDER BY m.id`
    : [];
  const inbound = hashes.length
    ? await tx.$queryRaw<{ from_phone: string | null; to_number: string; text: string | null; keyword: string | null; received_at: Date }[]>`
        SELECT from_phone, to_number, text, keyword, received_at FROM inbound_messages
         WHERE shop_id = ${r.shopId}::uuid AND from_hash = ANY(${hashes}::text[])
         ORDER BY received_at`
    : [];
  // The keyword confirmations we sent the customer from the shop's sender.
  const replies = hashes.length
    ? await tx.$queryRaw<{ keyword: string; body: string; status: string; created_at: Date; sent_at: Date | null }[]>`
        SELECT keyword, body, status, created_at, sent_at FROM keyword_replies
         WHERE shop_id = ${r.shopId}::uuid AND to_hash = ANY(${hashes}::text[])
         ORDER BY id`
    : [];

  const consentRecords = ids.length
    ? await tx.$queryRaw<{ contact_id: string; state: string; source: string; collected_at: Date; recorded_at: Date; evidence: unknown }[]>`
        SELECT contact_id, state, source, collected_at, recorded_at, evidence FROM contact_consent_records
         WHERE shop_id = ${r.shopId}::uuid AND contact_id = ANY(${ids}::uuid[])
         ORDER BY contact_id, id`
    : [];

  const cid = r.customer.shopifyCustomerId;
  const orderIds = [...new Set(r.ordersRequested ?? [])];
  const orders = await tx.$queryRaw<{ order_id: string; contact_id: string | null; total_minor: bigint; currency: string; ordered_at: Date; landing_site: string | null; referring_site: string | null; source_name: string | null; discount_codes: string[] }[]>`
    SELECT order_id, contact_id, total_minor, currency, ordered_at, landing_site, referring_site, source_name, discount_codes
      FROM shopify_orders
     WHERE shop_id = ${r.shopId}::uuid
       AND (contact_id = ANY(${ids}::uuid[]) OR order_id = ANY(${orderIds}::text[]) OR (${cid}::text IS NOT NULL AND customer_id = ${cid}::text)
            OR buyer_phone_hashes && ${hashes}::text[])
     ORDER BY ordered_at, order_id`;
  // Clicks on campaign and flow short links (the user-agent class, never the agent or the IP) and orders attributed to campaigns and flows.
  const clicks = ids.length
    ? await tx.$queryRaw<{ contact_id: string; campaign_id: string | null; flow_id: string | null; link_index: number; clicked_at: Date; ua_class: string; bot: boolean }[]>`
        SELECT contact_id, campaign_id, flow_id, link_index, clicked_at, ua_class, bot FROM link_clicks
         WHERE shop_id = ${r.shopId}::uuid AND contact_id = ANY(${ids}::uuid[]) ORDER BY clicked_at, id`
    : [];
  const attributions = ids.length
    ? await tx.$queryRaw<{ order_id: string; campaign_id: string | null; flow_id: string | null; kind: string; ordered_at: Date }[]>`
        SELECT order_id, campaign_id, flow_id, kind, ordered_at FROM order_attributions
         WHERE shop_id = ${r.shopId}::uuid AND contact_id = ANY(${ids}::uuid[]) ORDER BY ordered_at, order_id`
    : [];
  const checkouts = await tx.$queryRaw<{ token: string; phone_e164: string | null; abandoned_checkout_url: string | null; shopify_updated_at: Date; completed_at: Date | null }[]>`
    SELECT token, phone_e164, abandoned_checkout_url, shopify_updated_at, completed_at
      FROM shopify_checkouts
     WHERE shop_id = ${r.shopId}::uuid
       AND (contact_id = ANY(${ids}::uuid[]) OR phone_hash = ANY(${hashes}::text[]) OR buyer_phone_hashes && ${hashes}::text[]
            OR (${cid}::text IS NOT NULL AND customer_id = ${cid}::text))
     ORDER BY shopify_updated_at, token`;

  const data = {
    shopifyCustomerId: r.customer.shopifyCustomerId,
    shopifyDataRequestId: r.shopifyRequestId ?? null,
    contacts: contacts.map((c) => ({
      id: c.id,
      phone: c.phone_e164,
      email: c.email,
      firstName: c.first_name,
      lastName: c.last_name,
      smsConsent: c.sms_consent,
      tags: c.tags,
      optedOutAt: c.opted_out_at?.toISOString() ?? null,
      optOutSource: c.opt_out_source,
      erasedAt: c.erased_at?.toISOString() ?? null,
      createdAt: c.created_at.toISOString(),
      updatedAt: c.updated_at.toISOString(),
    })),
    // Every consent change we recorded for the customer, oldest first, with its evidence.
    consentRecords: consentRecords.map((k) => ({
      contactId: k.contact_id,
      state: k.state,
      source: k.source,
      collectedAt: k.collected_at.toISOString(),
      recordedAt: k.recorded_at.toISOString(),
      evidence: k.evidence,
    })),
    messages: messages.map((m) => ({
      contactId: m.contact_id,
      campaignId: m.campaign_id,
      campaignName: m.campaign_name,
      status: m.status,
      segments: m.segments,
      sentAt: m.sent_at?.toISOString() ?? null,
      finalAt: m.final_at?.toISOString() ?? null,
      errorCode: m.error_code,
    })),
    flowMessages: flowMessages.map((m) => ({
      contactId: m.contact_id,
      flowId: m.flow_id,
      flowName: m.flow_name,
      step: m.step,
      status: m.status,
      skipReason: m.skip_reason,
      segments: m.segments,
      sentAt: m.sent_at?.toISOString() ?? null,
      deliveredAt: m.delivered_at?.toISOString() ?? null,
      finalAt: m.final_at?.toISOString() ?? null,
      errorCode: m.error_code,
    })),
    inboundMessages: inbound.map((m) => ({
      from: m.from_phone,
      to: m.to_number,
      text: m.text,
      keyword: m.keyword,
      receivedAt: m.received_at.toISOString(),
    })),
    keywordReplies: replies.map((k) => ({
      keyword: k.keyword,
      text: k.body,
      status: k.status,
      createdAt: k.created_at.toISOString(),
      sentAt: k.sent_at?.toISOString() ?? null,
    })),
    orders: orders.map((o) => ({
      orderId: o.order_id,
      contactId: o.contact_id,
      totalMinor: Number(o.total_minor),
      currency: o.currency,
      orderedAt: o.ordered_at.toISOString(),
      landingSite: o.landing_site,
      referringSite: o.referring_site,
      sourceName: o.source_name,
      discountCodes: o.discount_codes,
    })),
    linkClicks: clicks.map((k) => ({
      contactId: k.contact_id,
      campaignId: k.campaign_id,
      flowId: k.flow_id,
      linkIndex: k.link_index,
      clickedAt: k.clicked_at.toISOString(),
      userAgentClass: k.ua_class,
      bot: k.bot,
    })),
    orderAttributions: attributions.map((a) => ({ orderId: a.order_id, campaignId: a.campaign_id, flowId: a.flow_id, kind: a.kind, orderedAt: a.ordered_at.toISOString() })),
    checkouts: checkouts.map((k) => ({
      token: k.token,
      phone: k.phone_e164,
      abandonedCheckoutUrl: k.abandoned_checkout_url,
      updatedAt: k.shopify_updated_at.toISOString(),
      completedAt: k.completed_at?.toISOString() ?? null,
    })),
  };
  await tx.$executeRaw`
    INSERT INTO privacy_requests (id, shop_id, kind, shopify_customer_id, data)
    VALUES (${r.requestId}::uuid, ${r.shopId}::uuid, 'data_request', ${r.customer.shopifyCustomerId}, ${JSON.stringify(data)}::jsonb)
    ON CONFLICT (id) DO NOTHING`;
  return { contacts: contacts.length };
}
