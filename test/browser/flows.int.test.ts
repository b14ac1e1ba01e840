import type { Page } from 'playwright-core';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import { upsertSchedulers } from '../../apps/worker/src/schedulers';
import { createContact, grantCredits, type ShopFixture } from '../factories';
import type { TestEnv } from '../harness';
import { simulatorProvider, startSimulator } from '../sending';
import { sessionToken } from '../session-token';
import { startAdminPage, type AdminPage } from './admin-page';
import { screenshot, seriousViolations } from './browser';

// The Flows pages in a real (headless) Chromium against the real api and
// Postgres: a flow made from the welcome template, its steps edited (the live
// segment counter, a wait added and moved, a refused body shown on its field),
// activated, seen live in the list, paused, tested on a searched contact (a
// real worker sends its first text to the SMS simulator), and a delete
// refused while that test run is in progress.

let env: TestEnv;
let base: string;
let page: Page;
let shop: ShopFixture;
let admin: AdminPage;
let grace: { id: string; phone: string };
let sim: SimulatorHandle;

beforeAll(async () => {
  let simUrl: string;
  ({ sim, url: simUrl } = await startSimulator({ dedupsByReference: false }));
  admin = await startAdminPage(async (e, s) => {
    // No footer: the counter's 160/161 boundary is the body's own. Quiet hours off: the test text goes now, whatever the hour.
    await e.db.$executeRaw`UPDATE shops SET opt_out_footer = false, quiet_hours_start = '00:00', quiet_hours_end = '00:00' WHERE id = ${s.id}::uuid`;
    await grantCredits(e.db, s.id, 10);
    await createContact(e.db, s.id, { firstName: 'Ada', lastName: 'Lovelace' });
    grace = await createContact(e.db, s.id, { firstName: 'Grace', lastName: 'Hopper' });
  });
  ({ env, base, page, shop } = admin);
  // The flows worker (due-run scheduler and steps) sending through the simulator.
  const { deps } = await env.worker({ queues: ['flows'], overrides: { provider: simulatorProvider(simUrl, { dedupsByReference: false }), config: { ...env.config, SMS_QUIET_HOURS_FLOOR: false } } });
  await upsertSchedulers(deps.queues, env.config);
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await sim?.stop();
});

const open = async (path: string) => page.goto(`${base}/app${path}${path.includes('?') ? '&' : '?'}embedded=1&host=YWRtaW4&id_token=${await sessionToken(shop.domain)}&shop=${shop.domain}`);

interface StoredFlow {
  id: string;
  status: string;
  version: number;
  steps: { type: string; body?: string; discountCode?: string | null; duration?: { amount: number; unit: string }; untilLocalTime?: { from: string; to: string } }[];
}

const flows = async () =>
  env.db.$queryRaw<StoredFlow[]>`
    SELECT f.id, f.status, v.version, v.steps
      FROM flows f JOIN flow_versions v ON v.id = f.current_version_id
     WHERE f.shop_id = ${shop.id}::uuid`;

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await read();
  for (let i = 0; i < 300 && !ok(v); i++) {
    await page.waitForTimeout(100);
    v = await read();
  }
  return v;
}

const step = (i: number) => page.getByTestId(`step-${i}`);

it('creates a flow from the welcome template, with the live segment counter, edited steps and the api refusal on its field', async () => {
  await open('/flows');
  await page.getByText('Automate your texts').waitFor();
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'flows-empty');

  await page.getByRole('link', { name: 'Use the Welcome series template' }).click();
  await page.getByRole('heading', { name: 'New flow', level: 1 }).waitFor();
  expect(await page.getByLabel('Flow name').inputValue()).toBe('Welcome series');
  expect(await page.locator('[data-testid^="step-"][aria-label]').count()).toBe(4);

  // The counter is the api's, as the merchant types: 160 GSM-7 characters are one segment, 161 two, an emoji UCS-2.
  const body = step(3).getByRole('textbox', { name: 'Step 4 message' });
  await body.fill('a'.repeat(160));
  await page.getByTestId('step-3-characters').filter({ hasText: /^160$/ }).waitFor();
  expect(await page.getByTestId('step-3-segments').textContent()).toBe('1');
  await body.fill('a'.repeat(161));
  await page.getByTestId('step-3-segments').filter({ hasText: /^2$/ }).waitFor();
  await body.fill('Still thinking it over? 👋 Your code {{discountCode}} is waiting.');
  await page.getByTestId('step-3-encoding').filter({ hasText: 'UCS-2' }).waitFor();
  await page.getByTestId('step-3-preview').filter({ hasText: 'Your code WELCOME10 is waiting.' }).waitFor();

  // A placeholder from the menu, at the cursor: the checkout link is only for abandoned checkouts.
  const first = step(0).getByRole('textbox', { name: 'Step 1 message' });
  await first.fill('Welcome! ');
  await page.getByRole('button', { name: 'Insert placeholder in step 1' }).click();
  expect(await page.getByRole('button', { name: /Checkout link/ }).isDisabled()).toBe(true);
  await page.getByRole('button', { name: /Discount code/ }).click();
  expect(await first.inputValue()).toBe('Welcome! {{discountCode}}');
  await page.getByTestId('step-0-preview').filter({ hasText: 'Welcome! WELCOME10' }).waitFor();

  // Edit the steps: the first wait becomes 3 days; a wait until 10:00–19:00 is added and moved before the last text.
  await step(1).getByLabel('Wait for').fill('3');
  await page.getByRole('button', { name: 'Add wait' }).click();
  await step(4).getByLabel('Step 5: wait').selectOption('window');
  await step(4).getByLabel('To', { exact: true }).fill('19:00');
  await page.getByRole('button', { name: 'Move step 5 up' }).click();
  expect(await step(3).getByLabel('Step 4: wait').inputValue()).toBe('window');
  expect(await step(4).getByRole('textbox', { name: 'Step 5 message' }).inputValue()).toContain('👋');

  // A body using {{discountCode}} without a code: the api's 400 lands on the field, nothing is saved.
  await step(0).getByLabel('Discount code', { exact: true }).fill('');
  await page.getByRole('button', { name: 'Save draft' }).click();
  await page.getByText('This flow cannot be saved yet').waitFor();
  await page.getByText('the body uses {{discountCode}}: give discountCode').waitFor();
  expect(await step(0).getByLabel('Discount code', { exact: true }).getAttribute('aria-invalid')).toBe('true');
  expect(await flows()).toEqual([]);
  expect(await seriousViolations(page)).toEqual([]);

  await step(0).getByLabel('Discount code', { exact: true }).fill('WELCOME10');
  expect(await step(0).getByLabel('Discount code', { exact: true }).getAttribute('aria-invalid')).toBe('false');
  await screenshot(page, 'flow-editor');
  await page.getByRole('button', { name: 'Save draft' }).click();
  const [saved] = await until(flows, (f) => f.length > 0);
  await page.getByRole('button', { name: 'Activate', exact: true }).waitFor();
  expect(saved).toMatchObject({ status: 'draft', version: 1 });
  expect(saved!.steps.map((s) => s.type)).toEqual(['send', 'wait', 'condition', 'wait', 'send']);
  expect(saved!.steps[0]).toEqual({ type: 'send', body: 'Welcome! {{discountCode}}', discountCode: 'WELCOME10' });
  expect(saved!.steps[1]).toEqual({ type: 'wait', duration: { amount: 3, unit: 'days' } });
  expect(saved!.steps[3]).toEqual({ type: 'wait', untilLocalTime: { from: '10:00', to: '19:00' } });
  expect(page.url()).toContain(`/app/flows/${saved!.id}`);
}, 120_000);

it('activates the flow, shows it live in the list, pauses it, sends a test to a searched contact, saves version 2 with the run kept on version 1, and deletes it, ending that run', async () => {
  const [flow] = await flows();
  await open(`/flows/${flow!.id}`);
  await page.getByRole('button', { name: 'Activate', exact: true }).click();
  await page.getByRole('dialog').getByText('Nothing that happened before is replayed').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Activate', exact: true }).click();
  await page.getByRole('button', { name: 'Pause', exact: true }).waitFor();
  expect((await flows())[0]!.status).toBe('live');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  expect(await seriousViolations(page)).toEqual([]);

  await page.getByRole('link', { name: 'Flows', exact: true }).first().click();
  const row = page.getByRole('row', { name: /Welcome series/ });
  await row.getByText('Live', { exact: true }).waitFor();
  await row.getByText('Contact subscribes').waitFor();
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'flows');

  await row.getByRole('link', { name: 'Welcome series' }).click();
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Pause flow' }).click();
  await page.getByRole('button', { name: 'Activate', exact: true }).waitFor();
  expect((await flows())[0]!.status).toBe('paused');

  // Send a test: the contact is found by search and gets one run, whatever the status.
  await page.getByRole('button', { name: 'Send a test' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel(/Ada Lovelace/).waitFor();
  await dialog.getByLabel('Search contacts').fill('Grace');
  await dialog.getByLabel(/Ada Lovelace/).waitFor({ state: 'detached' });
  await dialog.getByText(/Grace Hopper/).click();
  expect(await dialog.getByLabel(/Grace Hopper/).isChecked()).toBe(true);
  expect(await seriousViolations(page)).toEqual([]);
  await dialog.getByRole('button', { name: 'Start test run' }).dblclick();
  await page.getByText('Test run started for Grace Hopper').waitFor();
  const runs = await until(
    () => env.db.$queryRaw<{ contact_id: string; trigger_type: string; status: string }[]>`SELECT contact_id, trigger_type, status FROM flow_runs WHERE flow_id = ${flow!.id}::uuid`,
    (r) => r.length > 0,
  );
  expect(runs).toEqual([{ contact_id: grace.id, trigger_type: 'manual', status: 'active' }]);
  // The worker sends its first step (a paused flow's test run still runs), then it waits 3 days.
  const sent = await until(
    () => env.db.$queryRaw<{ step: number; status: string; credits: number }[]>`SELECT step, status, credits FROM flow_messages WHERE flow_id = ${flow!.id}::uuid`,
    (m) => m.some((x) => x.status === 'sent'),
  );
  expect(sent).toEqual([{ step: 0, status: 'sent', credits: 1 }]);
  expect(sim.stats().messagesAccepted).toBe(1);
  await page.reload();
  await page.getByTestId('flow-runs-started').filter({ hasText: /^1$/ }).waitFor();
  await page.getByTestId('flow-texts-sent').filter({ hasText: /^1$/ }).waitFor();

  // Editing now makes version 2 and says the run in progress keeps version 1; it does.
  await page.getByRole('link', { name: 'Edit', exact: true }).click();
  await page.getByText('Saving creates version 2').waitFor();
  await page.getByText('The run in progress finishes on the version it started with.').waitFor();
  await step(1).getByLabel('Wait for').fill('4');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByRole('button', { name: 'Activate', exact: true }).waitFor();
  expect(await page.evaluate(() => (globalThis as unknown as { __toasts: string[] }).__toasts)).toContain('Saved as version 2. Runs in progress keep the version they started on.');
  const [edited] = await flows();
  expect(edited).toMatchObject({ version: 2, status: 'paused' });
  expect(edited!.steps[1]).toEqual({ type: 'wait', duration: { amount: 4, unit: 'days' } });
  const [kept] = await env.db.$queryRaw<{ version: number }[]>`
    SELECT v.version FROM flow_runs r JOIN flow_versions v ON v.id = r.version_id WHERE r.flow_id = ${flow!.id}::uuid`;
  expect(kept!.version).toBe(1);

  // axe measures contrast through a closing modal's backdrop otherwise.
  await page.waitForTimeout(500);
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'flow-detail');

  // A paused flow's runs never finish on their own: deleting it says the run in progress ends, and does it.
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('dialog').getByText('and its run in progress will end without sending anything more').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete flow' }).click();
  await page.getByRole('heading', { name: 'Flows', exact: true }).waitFor();
  expect(await page.evaluate(() => (globalThis as unknown as { __toasts: string[] }).__toasts)).toContain('Flow deleted');
  expect(await flows()).toEqual([expect.objectContaining({ status: 'deleted' })]);
}, 120_000);
