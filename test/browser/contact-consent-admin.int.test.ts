import type { Page } from 'playwright-core';
import { createContact, type ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { seriousViolations } from './browser';

// The contacts page's "Add contact", in a real (headless) Chromium against the
// real api: a new contact is not subscribed unless the merchant chooses it and
// confirms the person's consent, and adding a number the shop holds as opted
// out keeps it opted out and says so (docs/admin.md, "Contacts").

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;

beforeAll(async () => {
  admin = await startAdminPage();
  ({ env, base, page, shop } = admin);
}, 120_000);

afterAll(async () => {
  await admin?.close();
});

const consentOf = async (phone: string) =>
  (await env.db.$queryRaw<{ sms_consent: string; opted_out_at: Date | null }[]>`
    SELECT sms_consent, opted_out_at FROM contacts WHERE shop_id = ${shop.id}::uuid AND phone_e164 = ${phone}`)[0];

async function addContact(phone: string): Promise<void> {
  await page.getByRole('button', { name: 'Add contact' }).click();
  await page.getByRole('dialog').getByLabel('Phone').fill(phone);
}
const dialog = () => page.getByRole('dialog');
const save = () => dialog().getByRole('button', { name: 'Save' }).click();

it('Add contact: not subscribed by default; Subscribed needs the consent confirmation; an opted-out number stays opted out and is said to', async () => {
  await page.goto(`${base}/app/contacts?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  await page.getByRole('heading', { name: 'Contacts', level: 1 }).waitFor();

  // The default: no consent.
  await addContact('+447911123501');
  expect(await dialog().getByLabel('SMS consent').inputValue()).toBe('pending');
  await save();
  await dialog().waitFor({ state: 'detached' });
  expect(await consentOf('+447911123501')).toEqual({ sms_consent: 'pending', opted_out_at: null });

  // Subscribed: refused until the merchant confirms the person's consent.
  await addContact('+447911123502');
  await dialog().getByLabel('SMS consent').selectOption('subscribed');
  const confirm = dialog().getByRole('checkbox', { name: /agreed to receive marketing texts/ });
  await confirm.waitFor();
  await save();
  await dialog().getByText('Confirm the person agreed to receive marketing texts').waitFor();
  expect(await consentOf('+447911123502')).toBeUndefined();
  expect(await seriousViolations(page)).toEqual([]);
  await confirm.check();
  await save();
  await dialog().waitFor({ state: 'detached' });
  expect(await consentOf('+447911123502')).toEqual({ sms_consent: 'subscribed', opted_out_at: null });

  // A number the shop holds as opted out (the merchant recorded it): adding it again does not subscribe it.
  await createContact(env.db, shop.id, { phone: '+447911123503', firstName: 'Olive', consent: 'unsubscribed' });
  await env.db.$executeRaw`UPDATE contacts SET opted_out_at = now(), opt_out_source = 'api' WHERE shop_id = ${shop.id}::uuid AND phone_e164 = '+447911123503'`;
  await addContact('+447911123503');
  await dialog().getByLabel('SMS consent').selectOption('subscribed');
  await dialog().getByRole('checkbox', { name: /agreed to receive marketing texts/ }).check();
  await save();
  await dialog().getByText('+447911123503 opted out').waitFor();
  expect(await dialog().innerText()).toContain('it stays unsubscribed');
  expect(await consentOf('+447911123503')).toMatchObject({ sms_consent: 'unsubscribed', opted_out_at: expect.any(Date) });
  expect(await seriousViolations(page)).toEqual([]);
  await dialog().getByRole('button', { name: 'Done' }).click();
  await dialog().waitFor({ state: 'detached' });
}, 90_000);

// The edit form is filled when it opens; the contact can be opted out while
// it is open (a customers/* webhook, a STOP, another tab). Saving a name
// change must not send the consent the form was opened with: a `subscribed`
// sent back lifts any opt-out but a keyword one (docs/api.md, PATCH).
it('Edit contact: a name change sends no consent, so an opt-out recorded while the form was open stays', async () => {
  const sally = await createContact(env.db, shop.id, { phone: '+447911123504', firstName: 'Sally', lastName: 'Stale', consent: 'subscribed' });
  await page.goto(`${base}/app/contacts?embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);
  await page.getByRole('button', { name: 'Sally Stale' }).click();
  await dialog().getByLabel('Last name').waitFor();
  expect(await dialog().getByLabel('SMS consent').inputValue()).toBe('subscribed');

  // Meanwhile the customer unsubscribes in Shopify (as customers_marketing_consent/update records it).
  await env.db.$executeRaw`
    UPDATE contacts SET sms_consent = 'unsubscribed', opted_out_at = now(), opt_out_source = 'shopify' WHERE id = ${sally.id}::uuid`;

  await dialog().getByLabel('Last name').fill('Renamed');
  await save();
  await dialog().waitFor({ state: 'detached' });
  const [row] = await env.db.$queryRaw<{ last_name: string; sms_consent: string; opted_out_at: Date | null; opt_out_source: string | null }[]>`
    SELECT last_name, sms_consent, opted_out_at, opt_out_source FROM contacts WHERE id = ${sally.id}::uuid`;
  expect(row).toEqual({ last_name: 'Renamed', sms_consent: 'unsubscribed', opted_out_at: expect.any(Date), opt_out_source: 'shopify' });
}, 90_000);
