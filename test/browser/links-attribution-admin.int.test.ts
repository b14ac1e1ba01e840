import type { Page } from 'playwright-core';
import { CODE_LENGTH, linkCode, trackedLinksOf } from '../../domain/links/link-code';
import { attributeOrder } from '../../domain/orders/attribute-order';
import { recordShopifyOrder } from '../../domain/orders/record-order';
import { createContact, type ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { screenshot, seriousViolations } from './browser';

// Issue 16 in the admin, in a real (headless) Chromium against the real api:
// the attribution windows in Settings, a contact's time zone, the composer's
// confirmation with what smart sending, quiet hours and tracked links do to
// the send, and what a campaign earned on its page.

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
const SLACK_PREVIEW = 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)';

beforeAll(async () => {
  admin = await startAdminPage();
  ({ env, base, page, shop } = admin);
}, 120_000);

afterAll(async () => {
  await admin?.close();
});

const open = async (path: string): Promise<void> => {
  await page.goto(`${base}/app${path}${path.includes('?') ? '&' : '?'}embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
};

const until = async (check: () => Promise<boolean>, what: string): Promise<void> => {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`timed out waiting for ${what}`);
};

const windows = async () =>
  (
    await env.db.$queryRaw<{ click: number; view: number }[]>`
      SELECT click_window_hours AS click, view_window_hours AS view FROM shops WHERE id = ${shop.id}::uuid`
  )[0]!;

it('Settings: the attribution windows are shown, refused out of range with the api message on the field, and saved', async () => {
  await open('/settings');
  const click = page.getByLabel('Click attribution (hours)');
  const view = page.getByLabel('View attribution (hours)');
  await click.waitFor();
  expect([await click.inputValue(), await view.inputValue()]).toEqual(['120', '24']);

  await click.fill('721');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('input[aria-invalid="true"]').waitFor();
  expect(await click.getAttribute('aria-invalid')).toBe('true');
  // The api's own message (zod's bound), under the field.
  const message = await page.locator(`#${await click.getAttribute('id')}Error`).innerText();
  expect(message).toContain('720');
  expect(await windows()).toEqual({ click: 120, view: 24 });
  expect(await seriousViolations(page)).toEqual([]);

  await click.fill('48');
  await view.fill('0');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText('Settings saved').first().waitFor();
  expect(await windows()).toEqual({ click: 48, view: 0 });
  await page.reload();
  await click.waitFor();
  expect([await click.inputValue(), await view.inputValue()]).toEqual(['48', '0']);
}, 90_000);

const zoneOf = async (phone: string) =>
  (await env.db.$queryRaw<{ timezone: string | null }[]>`SELECT timezone FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_e164 = ${phone}`)[0]?.timezone;

it('Contacts: a time zone is shown, an unknown one refused with the api message, a good one saved canonical, a new contact added with one', async () => {
  await createContact(env.db, shop.id, { phone: '+447911123460', firstName: 'Zoe', lastName: 'Zone', tags: ['zones'] });
  await open('/contacts');
  const row = page.getByRole('row').filter({ hasText: 'Zoe Zone' });
  await row.waitFor();
  expect(await row.innerText()).toContain('From phone');

  await row.getByRole('button', { name: 'Zoe Zone' }).click();
  const zone = page.getByLabel('Time zone');
  await zone.fill('Mars/Olympus_Mons');
  await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
  await page.getByText('not an IANA time zone name', { exact: false }).waitFor();
  expect(await zone.getAttribute('aria-invalid')).toBe('true');
  expect(await zoneOf('+447911123460')).toBeNull();
  expect(await seriousViolations(page)).toEqual([]);

  await zone.fill('america/chicago');
  await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  expect(await zoneOf('+447911123460')).toBe('America/Chicago');
  await row.filter({ hasText: 'America/Chicago' }).waitFor();

  await page.getByRole('button', { name: 'Add contact' }).click();
  await page.getByLabel('Phone').fill('+447911123461');
  await page.getByLabel('First name').fill('Lena');
  await page.getByLabel('Time zone').fill('Europe/London');
  await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  expect(await zoneOf('+447911123461')).toBe('Europe/London');
  await page.getByRole('row').filter({ hasText: 'Europe/London' }).waitFor();
}, 90_000);

const hh = (h: number): string => `${String(((h % 24) + 24) % 24).padStart(2, '0')}:00`;

it('Composer: the confirmation shows recipients after smart sending, those deferred by quiet hours now, and each tracked link with its short-link length', async () => {
  // Quiet hours around this hour (UTC) in each recipient's own zone: a
  // contact in UTC is inside them, one in Tokyo (UTC+9) is not. London
  // numbers: no US/CA legal floor.
  const h = new Date().getUTCHours();
  await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = ${hh(h - 2)}, quiet_hours_end = ${hh(h + 2)} WHERE id = ${shop.id}::uuid`;
  const quiet = await createContact(env.db, shop.id, { phone: '+447911123470', tags: ['confirm'] });
  const awake = await createContact(env.db, shop.id, { phone: '+447911123471', tags: ['confirm'] });
  const texted = await createContact(env.db, shop.id, { phone: '+447911123472', tags: ['confirm'] });
  await env.db.$executeRaw`UPDATE contacts SET timezone = CASE WHEN id = ${quiet.id}::uuid THEN 'UTC' ELSE 'Asia/Tokyo' END WHERE id IN (${quiet.id}::uuid, ${awake.id}::uuid, ${texted.id}::uuid)`;
  // An hour ago another campaign texted this one: inside the default 16 h smart-sending window.
  await env.db.$executeRaw`INSERT INTO contact_send_slots (contact_id, shop_id, last_at) VALUES (${texted.id}::uuid, ${shop.id}::uuid, now() - interval '1 hour')`;

  await open('/campaigns/new');
  await page.getByLabel('Campaign name').fill('Links and timing');
  await page.getByRole('textbox', { name: 'Message' }).fill('Sale today https://shop.example.com/sale and {{link:https://shop.example.com/faq}}');
  await page.getByLabel('Audience tags').fill('confirm');
  await until(async () => (await page.getByTestId('count-recipients').innerText()) === '3', 'the preview of 3 recipients');
  await page.getByRole('button', { name: 'Review and send' }).click();

  const dialog = page.getByRole('dialog');
  await dialog.getByTestId('confirm-after-cap').waitFor();
  expect(await dialog.getByTestId('confirm-after-cap').innerText()).toBe('2 of 3 recipients after smart sending');
  expect(await dialog.getByTestId('confirm-capped').innerText()).toContain('1 got a campaign message in the last 16 hours');
  expect(await dialog.getByTestId('confirm-deferred').innerText()).toBe('1 in their quiet hours: their messages wait until their window opens');
  const length = trackedLinksOf(env.config).base.length + 1 + CODE_LENGTH;
  expect((await dialog.getByTestId('confirm-links').getByRole('listitem').allInnerTexts()).map((t) => t.trim())).toEqual([
    `https://shop.example.com/sale → a short link of ${length} characters, one per recipient`,
    `https://shop.example.com/faq → a short link of ${length} characters, one per recipient`,
  ]);
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'composer-confirm');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  const [c] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE shop_id = ${shop.id}::uuid AND name = 'Links and timing'`;
  expect(c?.status).toBe('draft');
}, 90_000);

it('Composer: the confirmation names the recipients whose quiet hours never end (skipped, not deferred)', async () => {
  // Quiet all day but 00:00–01:00 local, for a number whose area code (850)
  // spans New York and Chicago: its open hour in one zone is quiet in the other.
  await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '01:00', quiet_hours_end = '00:00' WHERE id = ${shop.id}::uuid`;
  await createContact(env.db, shop.id, { phone: '+18505550190', tags: ['never'] });
  await open('/campaigns/new');
  await page.getByLabel('Campaign name').fill('Never open');
  await page.getByRole('textbox', { name: 'Message' }).fill('Sale today');
  await page.getByLabel('Audience tags').fill('never');
  await until(async () => (await page.getByTestId('count-recipients').innerText()) === '1', 'the preview of 1 recipient');
  await page.getByRole('button', { name: 'Review and send' }).click();

  const dialog = page.getByRole('dialog');
  await dialog.getByTestId('confirm-quiet-skipped').waitFor();
  expect(await dialog.getByTestId('confirm-quiet-skipped').innerText()).toBe(
    '1 whose quiet hours never end (no time within a week that your quiet hours and the US/Canadian 08:00–21:00 rule both allow): skipped, their credits returned',
  );
  expect(await dialog.getByTestId('confirm-deferred').innerText()).toBe('Nobody is in their quiet hours');
  expect(await seriousViolations(page)).toEqual([]);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  await env.db.$executeRaw`UPDATE shops SET quiet_hours_start = '21:00', quiet_hours_end = '08:00' WHERE id = ${shop.id}::uuid`;
}, 90_000);

it('Campaign page: clicks, unique clicks, click rate, attributed orders and revenue, from real redirects and an attributed order', async () => {
  const [c] = await env.db.$queryRaw<{ id: string; link_no: bigint }[]>`
    INSERT INTO campaigns (shop_id, name, body, status, started_at, completed_at)
    VALUES (${shop.id}::uuid, 'Earned', 'Sale https://shop.example.com/earned', 'completed', now() - interval '2 hours', now() - interval '1 hour')
    RETURNING id, link_no`;
  const recipients: { id: number; phone: string }[] = [];
  for (const n of [80, 81, 82, 83]) {
    const contact = await createContact(env.db, shop.id, { phone: `+4479111234${n}`, tags: ['earned'] });
    const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
      VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0, 'delivered', ${`sim-earned-${c!.id}-${n}`}, 1, now() - interval '2 hours', now() - interval '2 hours') RETURNING id`;
    recipients.push({ id: Number(r!.id), phone: contact.phone });
  }
  const links = trackedLinksOf(env.config);
  const get = async (recipient: number, ua: string): Promise<number> =>
    (await fetch(`${base}/${linkCode(links.signingKey, Number(c!.link_no), recipient, 0)}`, { redirect: 'manual', headers: { 'user-agent': ua } })).status;
  // Two people click, one of them twice; a link preview is redirected but is not a click.
  expect([await get(recipients[0]!.id, IPHONE), await get(recipients[0]!.id, IPHONE), await get(recipients[1]!.id, IPHONE), await get(recipients[2]!.id, SLACK_PREVIEW)]).toEqual([302, 302, 302, 302]);
  await until(
    async () => Number((await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM link_clicks WHERE campaign_id = ${c!.id}::uuid`)[0]!.n) === 4,
    'the click buffer to flush',
  );
  // The first clicker orders: attributed to this campaign by the click.
  await env.db.$transaction(async (tx) => {
    const recorded = await recordShopifyOrder(tx, {
      shopId: shop.id, orderId: `earned-${Date.now()}`, customerId: null, phones: [recipients[0]!.phone], totalPrice: '52.50', currency: 'USD',
      orderedAt: new Date(), landingSite: null, referringSite: null, sourceName: 'web', discountCodes: [],
    });
    if (recorded.outcome !== 'recorded' || !recorded.contactId) throw new Error('order not recorded against the contact');
    const [o] = await tx.$queryRaw<{ order_id: string }[]>`SELECT order_id FROM shopify_orders WHERE shop_id = ${shop.id}::uuid ORDER BY ordered_at DESC LIMIT 1`;
    expect(await attributeOrder(tx, { shopId: shop.id, orderId: o!.order_id, contactId: recorded.contactId })).toMatchObject({ kind: 'click', campaignId: c!.id });
  });

  await open(`/campaigns/${c!.id}`);
  await until(async () => (await page.getByTestId('stat-orders').innerText()) === '1', 'the results');
  expect({
    clicks: await page.getByTestId('stat-clicks').innerText(),
    unique: await page.getByTestId('stat-unique-clicks').innerText(),
    rate: await page.getByTestId('stat-click-rate').innerText(),
    orders: await page.getByTestId('stat-orders').innerText(),
  }).toEqual({ clicks: '3', unique: '2', rate: '50.0 %', orders: '1' });
  expect(await page.getByTestId('stat-revenue').innerText()).toContain('52.50');
  // 52.50 over 4 texts: the api's 13.1250, shown past the cent (no reservation here: nothing debited, no rate per credit).
  expect(await page.getByText('USD:', { exact: false }).filter({ hasText: 'per message' }).innerText()).toBe('USD: $13.125 per message, — per credit');
  // What the rates are over: the four texts that went out.
  await page.getByText('over the 4 texts sent, delivered or not', { exact: false }).waitFor();
  expect(await seriousViolations(page)).toEqual([]);
}, 90_000);
