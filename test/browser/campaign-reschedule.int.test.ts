import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import request from 'supertest';
import { createCampaign, createContact, grantCredits, type ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { seriousViolations } from './browser';

// A scheduled campaign in a real (headless) Chromium against the real api:
// the api moves it to another future time (PATCH scheduledAt), and so must
// the admin (its only action on a scheduled campaign was Cancel); a past
// time is refused on the field, a refusal of the api is shown. The
// campaigns list names every filter of an audience, not only its tags.

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;

const ZONE = 'America/New_York';

beforeAll(async () => {
  admin = await startAdminPage(async (e, s) => {
    await e.db.$executeRaw`UPDATE shops SET timezone = ${ZONE} WHERE id = ${s.id}::uuid`;
  });
  ({ env, base, page, shop } = admin);
}, 120_000);

afterAll(async () => {
  await admin?.close();
});

const auth = async () => `Bearer ${await sessionToken(shop.domain)}`;
const open = async (path: string) => page.goto(`${base}/app${path}?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
const scheduledAtOf = async (id: string) =>
  (await env.db.$queryRaw<{ at: Date | null; status: string }[]>`SELECT scheduled_at AS at, status FROM campaigns WHERE id = ${id}::uuid`)[0]!;
/** `YYYY-MM-DD` and `HH:MM` of an instant in the shop's zone. */
const wall = (d: Date): { date: string; time: string } => {
  const [date, time] = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .format(d)
    .split(', ');
  return { date: date!, time: time! };
};

async function scheduled(name: string): Promise<{ id: string; at: Date }> {
  const at = new Date(Math.ceil((Date.now() + 3 * 86_400_000) / 60_000) * 60_000);
  const c = await createCampaign(env.db, shop.id, { name, scheduledAt: at });
  const res = await request(base).post(`/api/campaigns/${c.id}/enqueue`).set('Authorization', await auth()).set('Idempotency-Key', randomUUID()).send({});
  expect(res.status).toBe(202);
  expect(res.body.campaign.status).toBe('scheduled');
  return { id: c.id, at };
}

it('a scheduled campaign is moved to another time from its page; a past time is refused on the field', async () => {
  await grantCredits(env.db, shop.id, 100);
  await createContact(env.db, shop.id);
  const c = await scheduled('Black Friday');
  await open(`/campaigns/${c.id}`);
  await page.getByText(`Scheduled for`, { exact: false }).waitFor();

  await page.getByRole('button', { name: 'Reschedule' }).click();
  const dialog = page.getByRole('dialog');
  // The current time, in the shop's zone.
  const now = wall(c.at);
  expect(await dialog.getByLabel('Date').inputValue()).toBe(now.date);
  expect(await dialog.getByLabel('Time').inputValue()).toBe(now.time);

  const yesterday = wall(new Date(Date.now() - 86_400_000));
  await dialog.getByLabel('Date').fill(yesterday.date);
  await dialog.getByText('Choose a date and time in the future').waitFor();
  expect(await dialog.getByRole('button', { name: 'Reschedule' }).isDisabled()).toBe(true);
  expect(await seriousViolations(page)).toEqual([]);

  const later = wall(new Date(c.at.getTime() + 2 * 86_400_000));
  await dialog.getByLabel('Date').fill(later.date);
  await dialog.getByLabel('Time').fill('10:15');
  await dialog.getByRole('button', { name: 'Reschedule' }).click();
  await dialog.waitFor({ state: 'detached' });
  const row = await scheduledAtOf(c.id);
  expect(row.status).toBe('scheduled');
  expect(wall(row.at!)).toEqual({ date: later.date, time: '10:15' });
  await page.getByText(`(${ZONE})`, { exact: false }).first().waitFor();
}, 90_000);

it('a campaign that started meanwhile is not moved, and the page says it is sending', async () => {
  const c = await scheduled('Cyber Monday');
  await open(`/campaigns/${c.id}`);
  await page.getByRole('button', { name: 'Reschedule' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Time').fill('09:45');
  // The launch came first (its time came, or another tab sent it).
  await env.db.$executeRaw`UPDATE campaigns SET status = 'sending', started_at = now() WHERE id = ${c.id}::uuid`;
  await dialog.getByRole('button', { name: 'Reschedule' }).click();
  await page.getByText('This campaign is already sending').waitFor();
  expect((await scheduledAtOf(c.id)).at!.getTime()).toBe(c.at.getTime());
}, 90_000);

it('the campaigns list names an audience by every filter, not "All subscribers" for one narrowed by orders', async () => {
  await createCampaign(env.db, shop.id, { name: 'Repeat buyers', audience: { tags: ['vip'], ordersCount: { min: 2 } } });
  await createCampaign(env.db, shop.id, { name: 'Everyone' });
  await open('/campaigns');
  await page.getByText('Subscribers tagged vip; at least 2 orders').waitFor();
  await page.getByText('All subscribers', { exact: true }).first().waitFor();
}, 60_000);

it('a scheduled campaign is edited in the composer: the message is saved and its reservation follows, the time is kept to the second', async () => {
  const shop2 = shop;
  const reserved = async (id: string) =>
    Number((await env.db.$queryRaw<{ amount: bigint; released: bigint }[]>`SELECT amount, released FROM credit_reservations WHERE campaign_id = ${id}::uuid AND status = 'active'`).map((r) => r.amount - r.released)[0] ?? -1);
  // A time with seconds, as an api client may set it: the composer's fields hold minutes only.
  const at = new Date(Math.ceil((Date.now() + 2 * 86_400_000) / 60_000) * 60_000 + 30_000);
  const c = await createCampaign(env.db, shop2.id, { name: 'Weekend', body: 'Short text', scheduledAt: at });
  await grantCredits(env.db, shop2.id, 100);
  await createContact(env.db, shop2.id);
  const res = await request(base).post(`/api/campaigns/${c.id}/enqueue`).set('Authorization', await auth()).set('Idempotency-Key', randomUUID()).send({});
  expect(res.body.campaign.status).toBe('scheduled');
  const recipients = res.body.recipients as number;
  expect(recipients).toBeGreaterThan(0);
  expect(await reserved(c.id)).toBe(recipients);

  await open(`/campaigns/${c.id}`);
  await page.getByRole('link', { name: 'Edit' }).or(page.getByRole('button', { name: 'Edit' })).first().click();
  const message = page.getByRole('textbox', { name: 'Message' });
  await message.waitFor();
  expect(new URL(page.url()).pathname).toBe(`/app/campaigns/${c.id}/edit`);
  expect(await message.inputValue()).toBe('Short text');
  // It keeps a time (the api refuses to drop it): the time fields, no "Schedule for later" to untick.
  await page.getByTestId('scheduled-note').waitFor();
  expect(await page.getByLabel('Schedule for later').count()).toBe(0);
  expect(await page.getByLabel('Date').inputValue()).toBe(wall(at).date);

  // Two segments a message now: the reservation doubles as the edit is saved.
  const long = `Weekend sale ${'x'.repeat(170)}`;
  await message.fill(long);
  for (let i = 0; i < 100 && (await reserved(c.id)) !== 2 * recipients; i++) await page.waitForTimeout(100);
  expect(await reserved(c.id)).toBe(2 * recipients);
  const row = (await env.db.$queryRaw<{ body: string; status: string; at: Date }[]>`SELECT body, status, scheduled_at AS at FROM campaigns WHERE id = ${c.id}::uuid`)[0]!;
  expect(row).toEqual({ body: long, status: 'scheduled', at });
  expect(await seriousViolations(page)).toEqual([]);

  await page.getByRole('button', { name: 'Review and schedule' }).click();
  await page.getByTestId('confirm-summary').waitFor();
  await page.getByRole('button', { name: 'Schedule', exact: true }).click();
  await page.getByText('Scheduled for', { exact: false }).waitFor();
  expect(new URL(page.url()).pathname).toBe(`/app/campaigns/${c.id}`);
  const after = (await env.db.$queryRaw<{ status: string; at: Date }[]>`SELECT status, scheduled_at AS at FROM campaigns WHERE id = ${c.id}::uuid`)[0]!;
  expect(after).toEqual({ status: 'scheduled', at });
  expect(await reserved(c.id)).toBe(2 * recipients);
}, 90_000);
