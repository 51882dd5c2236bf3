import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SHOTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');
const LOGIN_URL = process.env.E2E_LOGIN_URL!;
const SIM = process.env.E2E_SIM_URL!;

const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, animations: 'disabled' });

/** Console errors fail the test (ignoring the browser's own network noise for expected 4xx answers). */
function watchConsole(page: Page) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (404|409|412|422)/.test(m.text())) errors.push(m.text());
  });
  return errors;
}

async function signIn(page: Page) {
  await page.goto(LOGIN_URL);
  await expect(page).toHaveURL(/\/chatbots$/);
  await expect(page.locator('[data-realtime="live"]')).toBeAttached();
}

async function newChatbot(page: Page, name: string) {
  await page.goto('/chatbots');
  await page.getByRole('button', { name: 'New chatbot' }).first().click();
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Create' }).click();
  await expect(page).toHaveURL(/\/chatbots\/[0-9a-f-]+$/);
  await expect(page.getByTestId('node-start')).toBeVisible();
}

/** A chatbot made through the API's import (as a file would be), opened in the editor. */
async function openImported(page: Page, request: APIRequestContext, chatbot: { name: string; nodes: unknown[]; edges: unknown[] }) {
  const token = decodeURIComponent(/#token=([^&]+)/.exec(LOGIN_URL)![1]);
  const made = await request.post('/api/chatbots/import', { data: chatbot, headers: { authorization: `Bearer ${token}` } });
  expect(made.ok()).toBeTruthy();
  await page.goto(`/chatbots/${((await made.json()) as { id: string }).id}`);
}

async function dragFromPalette(page: Page, type: string, x: number, y: number) {
  const pane = page.locator('.react-flow__pane');
  await page.getByTestId(`palette-${type}`).dragTo(pane, { targetPosition: { x, y } });
}

async function connect(page: Page, source: string, target: string, handle?: string) {
  const from = handle
    ? page.locator(`.react-flow__node[data-id="${source}"] .react-flow__handle.source[data-handleid="${handle}"]`)
    : page.locator(`.react-flow__node[data-id="${source}"] .react-flow__handle.source`).first();
  const to = page.locator(`.react-flow__node[data-id="${target}"] .react-flow__handle.target`);
  await from.hover();
  await page.mouse.down();
  const box = (await to.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 10 });
  await page.mouse.up();
}

test('sign in with the printed link, and out again', async ({ page }) => {
  const errors = watchConsole(page);
  await page.goto('/login');
  await expect(page.getByRole('heading', { name: 'Sign in to WhatsApp Builder' })).toBeVisible();
  await shot(page, 'sign-in');
  await signIn(page);
  // the token left the address bar
  expect(page.url()).not.toContain('token=');
  await expect(page.getByRole('table', { name: 'Chatbots' })).toContainText('Demo: pizza order');
  await shot(page, 'chatbots');
  await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/chatbots');
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByTestId('signed-out-expired')).toHaveCount(0); // signing out is no expiry
  expect(errors).toEqual([]);
});

test('a token the server no longer accepts (revoked) signs out with the reason', async ({ page }) => {
  await signIn(page);
  await page.evaluate(() => localStorage.setItem('wab.token', 'wab_revoked-or-from-before-a-restart'));
  await page.goto('/inbox');
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByTestId('signed-out-expired')).toContainText('prints now');
  await shot(page, 'signed-out');
  await page.goto(LOGIN_URL);
  await expect(page).toHaveURL(/\/inbox$/); // back where the expiry found it
  await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByTestId('signed-out-expired')).toHaveCount(0);
});

test('revoking the token of an open inbox signs it out at once, with the reason', async ({ page, request }) => {
  const errors = watchConsole(page);
  const admin = { authorization: `Bearer ${decodeURIComponent(/#token=([^&]+)/.exec(LOGIN_URL)![1])}` };
  const made = (await (await request.post('/api/tokens', { data: { name: 'laptop to revoke' }, headers: admin })).json()) as { id: string; token: string };
  await page.goto(LOGIN_URL.replace(/#token=.*/, `#token=${encodeURIComponent(made.token)}`));
  await expect(page).toHaveURL(/\/chatbots$/); // signed in with it
  await page.goto('/inbox');
  await expect(page.locator('[data-realtime="live"]')).toBeAttached();
  expect((await request.delete(`/api/tokens/${made.id}`, { headers: admin })).status()).toBe(204);
  // no click, no reload: the server closes the socket, and the page learns why
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByTestId('signed-out-expired')).toBeVisible();
  expect(errors.filter((e) => !e.includes('status of 401'))).toEqual([]); // the browser logs the API's 401 itself
});

test('build a flow by dragging and connecting, then publish it', async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await newChatbot(page, 'E2E greeter');
  await dragFromPalette(page, 'message', 500, 250);
  await expect(page.getByTestId('node-message_1')).toBeVisible();
  await connect(page, 'start', 'message_1');
  await expect(page.locator('.react-flow__edge')).toHaveCount(1);
  // edit the message in the side panel
  const text = page.getByRole('textbox', { name: /^Text/ });
  await text.fill('Welcome to the e2e shop!');
  await expect(page.getByTestId('node-message_1')).toContainText('Welcome to the e2e shop!');
  await expect(page.getByTestId('save-state')).toHaveText('Draft saved');
  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.getByText('Published', { exact: true }).first()).toBeVisible();
  // the notice lies clear of the side panel's tabs and of the canvas's zoom buttons
  for (const covered of [page.getByRole('tablist'), page.locator('.react-flow__controls')]) {
    // polled: the notice slides in
    await expect
      .poll(async () => {
        const a = (await page.locator('.mantine-Notification-root').first().boundingBox())!;
        const b = (await covered.boundingBox())!;
        return { apart: a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y, a, b };
      })
      .toMatchObject({ apart: true });
  }
  // the side panel's tabs answer a plain click (the close button's row lies over the tab bar)
  for (const name of ['Problems', 'Test', 'Node']) {
    await page.getByRole('tab', { name }).click({ timeout: 5_000 });
    await expect(page.getByRole('tab', { name })).toHaveAttribute('aria-selected', 'true');
  }
  await shot(page, 'flow-builder');
  // it was stored: reload shows the same graph
  await page.reload();
  await expect(page.getByTestId('node-message_1')).toContainText('Welcome to the e2e shop!');
  await expect(page.locator('.react-flow__edge')).toHaveCount(1);
  // an edit after publishing is a draft until published again, and the header says so
  await expect(page.getByTestId('publish-state')).toHaveText('published');
  await page.getByTestId('node-message_1').click();
  await page.getByRole('textbox', { name: /^Text/ }).fill('Welcome back to the e2e shop!');
  await expect(page.getByTestId('publish-state')).toHaveText('unpublished changes');
  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.getByTestId('publish-state')).toHaveText('published');
  expect(errors).toEqual([]);
});

test('two tabs on one chatbot: a save from the stale one is refused and said, not silently lost', async ({ page, context }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await newChatbot(page, 'E2E two tabs');
  await dragFromPalette(page, 'message', 500, 250);
  await expect(page.getByTestId('node-message_1')).toBeVisible();
  await expect(page.getByTestId('save-state')).toHaveText('Draft saved');
  const other = await context.newPage();
  const otherErrors = watchConsole(other);
  await other.goto(page.url());
  await expect(other.getByTestId('node-message_1')).toBeVisible();
  // tab A edits, and its draft is saved
  await page.getByTestId('node-message_1').click();
  await page.getByRole('textbox', { name: /^Text/ }).fill('From tab A');
  await expect(page.getByTestId('save-state')).toHaveText('Draft saved');
  // tab B, opened before that, edits too: its save is refused, and it says why
  await other.getByTestId('node-message_1').click();
  await other.getByRole('textbox', { name: /^Text/ }).fill('From tab B');
  await expect(other.getByTestId('edit-conflict')).toBeVisible();
  await expect(other.getByTestId('save-state')).toHaveText('Not saved: changed elsewhere');
  await shot(other, 'flow-edit-conflict');
  await other.getByRole('button', { name: 'Load the saved version' }).click();
  await expect(other.getByTestId('node-message_1')).toContainText('From tab A');
  // tab A still saves and publishes what it shows
  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.getByTestId('publish-state')).toHaveText('published');
  expect(errors).toEqual([]);
  expect(otherErrors).toEqual([]);
});

test('nodes added by a click land in view, however many', async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await newChatbot(page, 'E2E click to add');
  for (let i = 1; i <= 6; i++) {
    await page.getByTestId('palette-message').click();
    // the free spot may be below the others: the view follows it (it went off-screen before)
    await expect(page.getByTestId(`node-message_${i}`)).toBeInViewport();
    // and its form opens, as for a node dropped on the canvas
    await expect(page.getByText(`id: message_${i}`, { exact: true })).toBeVisible();
  }
  // a copy pasted lands in view, on no other node
  await page.getByTestId('node-message_6').click(); // the last one added: in view
  await page.keyboard.press('Control+c');
  await page.keyboard.press('Control+v');
  const copy = page.getByTestId('node-message_7');
  await expect(copy).toBeInViewport();
  const boxes = await Promise.all([1, 2, 3, 4, 5, 6, 7].map(async (i) => (await page.getByTestId(`node-message_${i}`).boundingBox())!));
  const [a, others] = [boxes[6], boxes.slice(0, 6)];
  for (const b of others) expect(a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height).toBe(false);
  expect(errors).toEqual([]);
});

test('a broken flow shows its validation errors', async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await newChatbot(page, 'E2E broken');
  await dragFromPalette(page, 'jump', 200, 130);
  await expect(page.getByTestId('node-jump_1')).toBeVisible();
  await page.getByRole('button', { name: 'Publish' }).click();
  const problems = page.getByRole('list', { name: 'Problems' });
  await expect(problems).toBeVisible();
  await expect(problems).toContainText('jump_1');
  // in words, not the server's code (invalid_node_data stays only as a small detail)
  await expect(problems).toContainText('Error: A setting of this node is missing or not valid');
  await expect(problems.getByText('Error · invalid_node_data', { exact: false })).toHaveCount(0);
  // the node is outlined and carries the message
  await expect(page.getByTestId('node-jump_1').getByRole('alert').first()).toBeVisible();
  await shot(page, 'flow-validation');
  expect(errors).toEqual([]);
});

test('chat with the demo bot in the test panel', async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await page.getByRole('link', { name: 'Demo: pizza order' }).click();
  await page.getByRole('button', { name: 'Test', exact: true }).click();
  const input = page.getByLabel('Test message');
  await input.fill('hi');
  await input.press('Enter');
  const transcript = page.getByTestId('test-transcript');
  await expect(transcript).toContainText('Welcome to Pizza Place');
  await transcript.getByRole('button', { name: 'Order a pizza' }).click();
  await expect(transcript).toContainText('Which pizza would you like?');
  await transcript.getByRole('button', { name: /See pizzas/ }).last().click();
  await page.getByRole('menuitem', { name: /Margherita/ }).click();
  await expect(transcript).toContainText('How many Margherita pizzas');
  await expect(page.getByTestId('node-quantity')).toHaveClass(/current/);
  await expect(page.getByTestId('node-quantity')).toBeInViewport(); // the canvas follows the run
  await input.fill('2');
  await input.press('Enter');
  await expect(transcript).toContainText('Your order of 2 x Margherita is confirmed');
  await expect(page.getByRole('table', { name: 'Variables' })).toContainText('Margherita');
  await expect(page.getByTestId('node-done')).toBeInViewport({ ratio: 0.99 }); // whole, to a rounding error
  await page.waitForTimeout(400); // the pan's animation, for the screenshot
  await shot(page, 'test-panel');
  expect(errors).toEqual([]);
});

test('chatbot settings: hand-off keywords saved, shown as an unpublished change, and used by the test chat', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await openImported(page, request, {
    name: 'Settings check',
    nodes: [
      { id: 'start', type: 'start', position: { x: 0, y: 0 }, data: {} },
      { id: 'qty', type: 'question', position: { x: 0, y: 150 }, data: { text: 'How many?', variable: 'n', validation: { type: 'number' } } },
      { id: 'team', type: 'handoff', position: { x: 300, y: 150 }, data: { text: 'Our team will answer you here.' } },
    ],
    edges: [{ id: 'e1', source: 'start', target: 'qty', sourceHandle: null }],
  });
  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.getByTestId('publish-state')).toHaveText('published');
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Chatbot settings' });
  await dialog.getByLabel('Hand-off keywords').fill('agent');
  await dialog.getByLabel('Hand-off keywords').press('Enter');
  await dialog.getByLabel('Hand-off keywords').fill('start over'); // a default restart keyword: refused before saving
  await dialog.getByLabel('Hand-off keywords').press('Enter');
  await expect(dialog).toContainText('cannot both restart the chatbot and hand off');
  await expect(dialog.getByRole('button', { name: 'Save settings' })).toBeDisabled();
  await dialog.getByLabel('Hand-off keywords').press('Backspace'); // removes "start over"
  await dialog.getByLabel('Session timeout (minutes)').fill('45');
  await dialog.getByLabel('Message after a timeout').fill('Welcome back {{contact.name}}! Let us start again.');
  await dialog.getByRole('button', { name: 'Save settings' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId('publish-state')).toHaveText('unpublished changes');
  // Kept: a reload shows them again.
  await page.reload();
  await expect(page.getByTestId('publish-state')).toHaveText('unpublished changes');
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  await expect(dialog.getByText('agent', { exact: true })).toBeVisible(); // its pill
  await expect(dialog.getByLabel('Session timeout (minutes)')).toHaveValue('45');
  await expect(dialog.getByLabel('Message after a timeout')).toHaveValue('Welcome back {{contact.name}}! Let us start again.');
  await page.waitForTimeout(400); // the dialog's fade-in, for the screenshot
  await shot(page, 'chatbot-settings');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  // The test chat runs the draft's settings: "agent" at the number question reaches the team.
  await page.getByRole('button', { name: 'Test', exact: true }).click();
  const input = page.getByLabel('Test message');
  await input.fill('hi');
  await input.press('Enter');
  const transcript = page.getByTestId('test-transcript');
  await expect(transcript).toContainText('How many?');
  await input.fill('Agent!');
  await input.press('Enter');
  await expect(transcript).toContainText('Our team will answer you here.');
  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.getByTestId('publish-state')).toHaveText('published');
  expect(errors).toEqual([]);
});

test('the inbox shows a customer live, ticks move to read, an operator takes over', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await page.goto('/inbox');
  await expect(page.getByRole('heading', { name: 'Inbox' })).toBeVisible();
  const phone = `+1555${Math.floor(1000000 + Math.random() * 8999999)}`;
  const r = await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: 'Bob Tester', text: 'hi' } });
  expect(r.ok()).toBeTruthy();
  const item = page.getByTestId('conversation-item').filter({ hasText: 'Bob Tester' });
  await expect(item).toBeVisible();
  await item.click();
  const messages = page.getByTestId('messages');
  await expect(messages).toContainText('Welcome to Pizza Place');
  // the bot's reply reaches "read" (blue ticks) through status webhooks, live
  await expect(messages.locator('[data-direction="outbound"] [data-status="read"]').first()).toBeVisible({ timeout: 20_000 });
  await expect(page.getByLabel('Bot context')).toContainText('menu');
  await expect(messages.locator('[data-direction="outbound"]').filter({ hasText: 'Welcome to Pizza Place' }).getByTestId('sent-by')).toHaveText('Bot');
  // a tap shows which message it answers (WhatsApp's context, which the simulator fills as the phone does)
  const tap = await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, buttonReply: { id: 'order', title: 'Order a pizza' } } });
  expect(tap.ok()).toBeTruthy();
  await expect(messages).toContainText('Which pizza would you like?');
  await expect(messages.locator('[data-direction="inbound"]').filter({ hasText: 'Order a pizza' }).getByTestId('quote')).toHaveText(
    'What would you like to do?',
  );
  await shot(page, 'inbox');

  // the composer warns that the bot answers too, until an operator takes over
  await expect(page.getByTestId('bot-running-hint')).toBeVisible();
  await page.getByRole('button', { name: 'Take over' }).click();
  await expect(page.getByRole('button', { name: 'Hand back to bot' })).toBeVisible();
  await expect(page.getByTestId('bot-running-hint')).toHaveCount(0);
  // the bot's context has ended: the panel keeps showing it, with the reason, as a pause that a hand-back ends
  await expect(page.getByTestId('context-ended')).toContainText('handoff');
  await expect(page.getByTestId('context-ended')).toContainText('A human has the conversation');
  await expect(page.getByTestId('context-state')).toHaveText('paused');
  await expect(page.getByText('You have taken over')).toHaveCount(0); // the panel says it; no notice over it
  const text = `Hello Bob, a human here ${Date.now()}`;
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await expect(messages).toContainText(text);
  await expect(messages.locator('[data-direction="outbound"]').filter({ hasText: text }).locator('[data-status="read"]')).toBeVisible({
    timeout: 20_000,
  });
  await expect(messages.locator('[data-direction="outbound"]').filter({ hasText: text }).getByTestId('sent-by')).toHaveText('Operator');
  // it reached the simulator (the stand-in for the customer's phone)
  await expect
    .poll(async () => {
      const res = await request.get(`${SIM}/_simulator/messages`);
      const body = (await res.json()) as { items: { payload: { text?: { body?: string } } }[] };
      return body.items.some((m) => m.payload.text?.body === text);
    })
    .toBe(true);
  await expect(item).toContainText('human');
  await expect(item).toContainText(text);
  await shot(page, 'inbox-takeover');
  expect(errors).toEqual([]);
});

/** In the inbox, "New conversation" with a customer never seen (a fresh number): opens it, returns its digits. */
async function writeFirstTo(page: Page, name: string) {
  await page.goto('/inbox');
  const digits = `1555${Math.floor(1000000 + Math.random() * 8999999)}`;
  await page.getByRole('button', { name: 'New conversation' }).click();
  await page.getByLabel('Phone number').fill(`+${digits}`);
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Open conversation' }).click();
  await expect(page).toHaveURL(/\/inbox\/[0-9a-f-]+$/);
  return digits;
}

test('a customer\'s photo shows in the inbox, fetched from WhatsApp through the server', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  const phone = `+1555${Math.floor(1000000 + Math.random() * 8999999)}`;
  const photo = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures/photo.png'));
  const uploaded = await request.post(`${SIM}/_simulator/media`, { data: photo, headers: { 'Content-Type': 'image/png' } });
  expect(uploaded.status()).toBe(201);
  const { id } = (await uploaded.json()) as { id: string };
  const r = await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: 'Pia Photo', image: { id, caption: 'my pizza came like this' } } });
  expect(r.ok()).toBeTruthy();
  await page.goto('/inbox');
  await page.getByTestId('conversation-item').filter({ hasText: 'Pia Photo' }).click();
  const image = page.getByTestId('messages').getByTestId('media-image');
  await expect(image).toBeVisible();
  await expect(image).toHaveAttribute('alt', 'my pizza came like this');
  expect(await image.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(160); // the real photo, decoded
  // a photo WhatsApp no longer has says so instead of a broken image
  const gone = await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, image: { id: '4242424242' } } });
  expect(gone.ok()).toBeTruthy();
  await expect(page.getByTestId('media-error')).toContainText('WhatsApp no longer has this media');
  await image.scrollIntoViewIfNeeded();
  await shot(page, 'inbox-photo');
  // a click opens it full size; Escape closes it
  await image.click();
  const full = page.getByRole('dialog').getByTestId('media-image-full');
  await expect(full).toBeVisible();
  expect(await full.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(160);
  await page.waitForTimeout(300); // the modal's opening transition, for the screenshot
  await shot(page, 'inbox-photo-full');
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
  // an SVG (which can hold a script) is never shown as an image of the app: it is a download of no type
  const svg = await request.post(`${SIM}/_simulator/media`, {
    data: "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
    headers: { 'Content-Type': 'image/svg+xml' },
  });
  const svgId = ((await svg.json()) as { id: string }).id;
  expect((await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, image: { id: svgId } } })).ok()).toBeTruthy();
  const saved = page.getByTestId('messages').getByRole('link', { name: /Save image/ });
  await expect(saved).toBeVisible();
  await expect(page.getByTestId('messages').getByTestId('media-image')).toHaveCount(1);
  expect(errors).toEqual([]);
});

test('an operator writes first to a new customer with a template', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  const digits = await writeFirstTo(page, 'Carol First');
  await expect(page.getByTestId('conversation-item').filter({ hasText: 'Carol First' })).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: 'The 24-hour window is closed' })).toBeVisible();
  await page.getByRole('status').getByRole('button').first().click();
  await page.getByLabel('Template name').fill('order_update');
  // a refused value is said under its own input, once (no notification repeating it)
  await page.getByLabel('Language').fill('english');
  await page.getByRole('button', { name: 'Send template' }).click();
  const languageError = page.getByRole('dialog').getByText("'english' is not a WhatsApp language code", { exact: false });
  await expect(languageError).toBeVisible();
  expect(await languageError.evaluate((el) => !!el.closest('.mantine-InputWrapper-root')?.querySelector('input[value="english"]'))).toBe(true);
  await expect(page.getByText('Not sent')).toHaveCount(0);
  await page.getByLabel('Language').fill('en_US');
  await page.getByRole('button', { name: 'Send template' }).click();
  await expect
    .poll(async () => {
      const res = await request.get(`${SIM}/_simulator/messages`);
      const body = (await res.json()) as { items: { to: string; payload: { type: string } }[] };
      return body.items.some((m) => m.to === digits && m.payload.type === 'template');
    })
    .toBe(true);
  await expect(page.getByRole('dialog')).toBeHidden();
  await expect(page.getByTestId('messages').locator('[data-direction="outbound"]')).toHaveCount(1);
  await shot(page, 'inbox-write-first');
  expect(errors).toEqual([]);
});

test('free text waits for the window: Send is off while it is closed, on once the customer writes', async ({ page, request }) => {
  await signIn(page);
  const digits = await writeFirstTo(page, 'Carol Closed');
  const banner = page.getByRole('status').filter({ hasText: 'The 24-hour window is closed' });
  await expect(banner).toBeVisible();
  // free text while the window is closed cannot go (a review found Send pressed to no visible effect)
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill('are you there?');
  await expect(page.getByRole('button', { name: 'Send', exact: true })).toBeDisabled();
  await box.press('Enter');
  await expect(box).toHaveValue('are you there?');
  // the customer writes: the window opens, the banner goes, and the text can go
  expect((await request.post(`${SIM}/_simulator/inbound`, { data: { from: `+${digits}`, name: 'Carol Closed', text: 'hello' } })).ok()).toBeTruthy();
  await expect(page.getByTestId('messages').locator('[data-direction="inbound"]')).toHaveCount(1);
  await expect(banner).toHaveCount(0);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await expect(page.getByTestId('messages').locator('[data-direction="outbound"]').filter({ hasText: 'are you there?' })).toHaveCount(1);
});

test('a conversation no bot ever ran in opens without asking for its bot context (no 404), and asks once a bot starts', async ({ page, request }) => {
  // No 404 at all this time: watchConsole lets the browser's own line for an expected 404 through.
  const errors = watchConsole(page);
  page.on('console', (m) => {
    if (m.type() === 'error' && m.text().includes('404')) errors.push(m.text());
  });
  const asked: number[] = [];
  page.on('response', (r) => {
    if (/\/api\/conversations\/[0-9a-f-]+\/context$/.test(new URL(r.url()).pathname)) asked.push(r.status());
  });
  await signIn(page);
  const digits = await writeFirstTo(page, 'Nora Nobot');
  const panel = page.getByLabel('Bot context');
  await expect(panel.getByText('No bot runs in this conversation.')).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: 'The 24-hour window is closed' })).toBeVisible();
  expect(asked).toEqual([]);
  // The customer answers: the demo bot starts, and the open panel shows it running (asked for, answered 200).
  expect((await request.post(`${SIM}/_simulator/inbound`, { data: { from: `+${digits}`, name: 'Nora Nobot', text: 'hi' } })).ok()).toBeTruthy();
  await expect(panel.getByTestId('context-state')).toHaveText('running');
  expect(asked.length).toBeGreaterThan(0);
  expect(asked.every((status) => status === 200)).toBe(true);
  expect(errors).toEqual([]);
});

test('a conversation that could not be opened (server unreachable) opens with Retry', async ({ page, request }) => {
  await signIn(page);
  const phone = `+1555${Math.floor(1000000 + Math.random() * 8999999)}`;
  expect((await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: 'Rita Retry', text: 'hello' } })).ok()).toBeTruthy();
  await page.goto('/inbox');
  const item = page.getByTestId('conversation-item').filter({ hasText: 'Rita Retry' });
  await expect(item).toBeVisible();
  const detail = /\/api\/conversations\/[0-9a-f-]+$/;
  await page.route(detail, (route) => route.abort('connectionrefused'));
  await item.click();
  const failed = page.getByRole('alert').filter({ hasText: 'Could not open the conversation' });
  await expect(failed).toContainText('The server cannot be reached');
  await page.unroute(detail);
  await failed.getByRole('button', { name: 'Retry' }).click();
  await expect(failed).toHaveCount(0);
  await expect(page.getByTestId('messages').locator('[data-direction="inbound"]')).toHaveCount(1);
});

test('a customer seen under two identities is merged, and the open conversation follows', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await page.goto('/inbox');
  const digits = `1555${Math.floor(1000000 + Math.random() * 8999999)}`;
  const bsuid = `US.${Date.now()}${Math.floor(Math.random() * 1000)}`;
  // Known by phone number only (an operator wrote first)...
  await page.getByRole('button', { name: 'New conversation' }).click();
  await page.getByLabel('Phone number').fill(`+${digits}`);
  await page.getByLabel('Name').fill('Dora Phone');
  await page.getByRole('button', { name: 'Open conversation' }).click();
  await expect(page).toHaveURL(/\/inbox\/[0-9a-f-]+$/);
  const byPhone = page.url();
  // ...then writing by username only: WhatsApp gives no number, only the business-scoped user id.
  let r = await request.post(`${SIM}/_simulator/inbound`, { data: { userId: bsuid, username: 'dora', name: 'Dora Username', text: 'hello' } });
  expect(r.ok()).toBeTruthy();
  const second = page.getByTestId('conversation-item').filter({ hasText: 'Dora Username' });
  await second.click();
  await expect(page.getByTestId('messages')).toContainText('hello');
  expect(page.url()).not.toBe(byPhone);
  // A message with both links them: the open conversation is merged into the phone one, and the page follows.
  r = await request.post(`${SIM}/_simulator/inbound`, { data: { from: `+${digits}`, userId: bsuid, name: 'Dora Both', text: 'it is me' } });
  expect(r.ok()).toBeTruthy();
  await expect(page).toHaveURL(byPhone);
  await expect(page.getByTestId('messages')).toContainText('it is me');
  await expect(page.getByTestId('messages')).toContainText('hello');
  await expect(second).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('a send refused because the window closed meanwhile updates the header and the list too', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  const phone = `+1555${Math.floor(1000000 + Math.random() * 8999999)}`;
  expect((await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: 'Wendy Window', text: 'hello there' } })).ok()).toBeTruthy();
  await page.goto('/inbox');
  const item = page.getByTestId('conversation-item').filter({ hasText: 'Wendy Window' });
  await item.click();
  await expect(page.getByTestId('messages')).toContainText('hello there');
  await expect(item).toContainText('open');
  // WhatsApp's 4,096 characters, counted as the API counts them: 3,000 emoji (6,000 UTF-16 units) are fine
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill('😀'.repeat(3000));
  expect(Array.from(await box.inputValue()).length).toBe(3000);
  await expect(page.getByRole('button', { name: 'Send' })).toBeEnabled();
  await box.fill('a'.repeat(4097));
  await expect(page.getByText('4,097 characters: WhatsApp takes at most 4,096')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Send' })).toBeDisabled();
  // the window closes while the page shows it open (the server's own announcement comes within a minute)
  execFileSync('psql', [process.env.E2E_DATABASE_URL!, '-qc',
    `UPDATE conversations SET "lastCustomerMessageAt" = now() - interval '25 hours' WHERE "customerId" = (SELECT id FROM users WHERE "phoneNumber" = '${phone}')`]);
  await page.getByRole('textbox', { name: 'Message' }).fill('are you still there?');
  await page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await expect(page.getByRole('status').filter({ hasText: 'The 24-hour window is closed' })).toBeVisible();
  await expect(item).toContainText('closed');
  await expect(page.getByText('window closed', { exact: true })).toBeVisible();
  expect(errors).toEqual([]);
});

test('a customer who wrote to another number of the business: shown, read-only, no bot', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  const digits = `1555${Math.floor(1000000 + Math.random() * 8999999)}`;
  const now = Math.floor(Date.now() / 1000);
  // A signed webhook, as Meta sends it, for a number of the same app that is not the one connected in Settings.
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '15550002222', phone_number_id: '200000000000009' },
      contacts: [{ wa_id: digits, profile: { name: 'Elsa Elsewhere' } }],
      messages: [{ from: digits, id: `wamid.E2E${now}${digits}`, timestamp: String(now), type: 'text', text: { body: 'hi' } }],
    } }] }],
  });
  const signature = 'sha256=' + createHmac('sha256', 'demo-app-secret').update(body).digest('hex');
  const r = await request.post('/webhooks/whatsapp', { data: body, headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signature } });
  expect(r.status()).toBe(200);
  await page.goto('/inbox');
  const row = page.getByTestId('conversation-item').filter({ hasText: 'Elsa Elsewhere' });
  await expect(row).toContainText('other number'); // told apart in the list, before it is opened
  await row.click();
  await expect(page.getByTestId('messages')).toContainText('hi');
  await expect(page.getByRole('status').filter({ hasText: 'Another WhatsApp number' })).toContainText('200000000000009');
  await expect(page.getByRole('textbox', { name: 'Message' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Take over' })).toHaveCount(0); // no bot runs there
  await shot(page, 'inbox-other-number');
  expect(errors).toEqual([]);
});

test('settings show the webhook and create a token once', async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await page.goto('/settings');
  await expect(page.getByRole('textbox', { name: 'Callback URL' })).toHaveValue(/\/webhooks\/whatsapp$/);
  await expect(page.getByLabel('Access token')).toHaveValue('');
  await page.getByLabel('New token name').fill('e2e token');
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByRole('dialog')).toContainText('shown only once');
  await expect(page.getByRole('dialog').getByRole('textbox', { name: 'Token' })).toHaveValue(/^wab_/);
  await page.getByRole('button', { name: 'Done' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  const tokens = page.getByRole('table', { name: 'API tokens' });
  await expect(tokens).toContainText('e2e token');
  await tokens.scrollIntoViewIfNeeded();
  await shot(page, 'settings');
  expect(errors).toEqual([]);
});

test('the inbox searches customers on the server and counts unread messages', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await page.goto('/inbox');
  const tag = Math.random().toString(36).slice(2, 8);
  const phone = `+1666${Math.floor(1000000 + Math.random() * 8999999)}`;
  expect((await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: `Carla ${tag}`, text: 'hello' } })).ok()).toBeTruthy();
  const item = page.getByTestId('conversation-item').filter({ hasText: `Carla ${tag}` });
  await expect(item).toBeVisible();
  const token = decodeURIComponent(/#token=([^&]+)/.exec(LOGIN_URL)![1]);
  const headers = { authorization: `Bearer ${token}` };
  const unread = async () =>
    ((await (await request.get('/api/conversations', { params: { q: tag }, headers })).json()) as { items: { unreadCount: number }[] }).items[0].unreadCount;
  // the bot has answered (welcome, then the menu) and marked the message read
  await expect
    .poll(async () => {
      const sent = (await (await request.get(`${SIM}/_simulator/messages`, { params: { to: phone } })).json()) as { items: unknown[] };
      return sent.items.length >= 2 && (await unread()) === 0;
    })
    .toBe(true);
  await expect(item.getByTestId('unread-count')).toHaveCount(0);
  // once an operator has taken over, nobody answers: the customer's next messages stay unread
  const found = (await (await request.get('/api/conversations', { params: { q: tag }, headers })).json()) as { items: { id: string }[] };
  expect(found.items).toHaveLength(1);
  expect((await request.post(`/api/conversations/${found.items[0].id}/handoff`, { data: { handedOff: true }, headers })).ok()).toBeTruthy();
  for (const text of ['are you there?', 'hello??'])
    expect((await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: `Carla ${tag}`, text } })).ok()).toBeTruthy();
  await expect.poll(unread).toBe(2);
  await expect(item.getByTestId('unread-count')).toHaveText('2');
  await expect(item).toContainText('human');
  await page.getByLabel('Search conversations').fill(tag);
  const list = page.getByRole('list', { name: 'Conversations' });
  await expect(list.getByTestId('conversation-item')).toHaveCount(1);
  await expect(list).toContainText(`Carla ${tag}`);
  await page.getByLabel('Search conversations').fill(phone.slice(-7));
  await expect(list.getByTestId('conversation-item')).toHaveCount(1);
  // opening it is reading it: the badge clears, the server counts nothing unread, the customer gets blue ticks
  await list.getByTestId('conversation-item').click();
  await expect(page.getByText('hello??')).toBeVisible();
  await expect(list.getByTestId('unread-count')).toHaveCount(0);
  await expect.poll(unread).toBe(0);
  await page.getByLabel('Search conversations').fill(`nobody-${tag}`);
  await expect(page.getByText('No conversation matches.')).toBeVisible();
  expect(errors).toEqual([]);
});

test('the dashboard shows the figures after a conversation with the demo bot', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  const phone = `+1777${Math.floor(1000000 + Math.random() * 8999999)}`;
  expect((await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: 'Dana Dashboard', text: 'hi' } })).ok()).toBeTruthy();
  // wait for the bot's answer to reach the customer
  await expect
    .poll(async () => {
      const res = await request.get(`${SIM}/_simulator/messages`, { params: { to: phone } });
      return ((await res.json()) as { items: unknown[] }).items.length > 0;
    })
    .toBe(true);
  await page.getByRole('navigation', { name: 'Main' }).first().getByRole('link', { name: 'Dashboard' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
  const figure = async (id: string) => Number((await page.getByTestId(id).textContent())?.replace(/\D/g, ''));
  await expect.poll(() => figure('total-started')).toBeGreaterThanOrEqual(1);
  expect(await figure('total-in')).toBeGreaterThanOrEqual(1);
  expect(await figure('total-out')).toBeGreaterThanOrEqual(1);
  await expect(page.getByRole('img', { name: /Conversations per day: Started [1-9]/ })).toBeVisible();
  await expect(page.getByTestId('chart-messages').locator('.recharts-line').first()).toBeVisible();
  await page.getByTestId('days-selector').getByText('7 days', { exact: true }).click();
  await expect(page.getByRole('radio', { name: '7 days' })).toBeChecked();
  await expect.poll(() => figure('total-started')).toBeGreaterThanOrEqual(1);
  await page.waitForTimeout(400); // the lines' entry animation
  await shot(page, 'dashboard');
  expect(errors).toEqual([]);
});

test('settings: test the WhatsApp connection against the simulator', async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await page.goto('/settings');
  await expect(page.getByRole('textbox', { name: 'Callback URL' })).toBeVisible();
  // Meta's ids are numbers: anything else is refused before it is sent (it would become part of a Graph API path).
  const phoneId = page.getByRole('textbox', { name: 'Phone number ID' });
  const saved = await phoneId.inputValue();
  await phoneId.fill('../123');
  await page.getByRole('button', { name: 'Save connection' }).click();
  await expect(page.getByText('Digits only, as Meta shows it')).toBeVisible();
  await phoneId.fill(saved);
  // The number's sending limit: the demo's 10,000 (the simulator has none), changed and saved, then put back.
  const rate = page.getByRole('textbox', { name: 'Messages per second' });
  await expect(rate).toHaveValue('10,000');
  await rate.fill('1000');
  await page.getByRole('button', { name: 'Save connection' }).click();
  await expect(page.getByText('WhatsApp connection saved.')).toBeVisible();
  await page.reload();
  await expect(rate).toHaveValue('1,000');
  await rate.fill('10000');
  await page.getByRole('button', { name: 'Save connection' }).click();
  await expect(page.getByText('WhatsApp connection saved.').first()).toBeVisible();
  await page.getByRole('button', { name: 'Test connection' }).click();
  const result = page.getByTestId('connection-test');
  await expect(result).toContainText('Connected to WhatsApp');
  await expect(result).toContainText('Verified name');
  await expect(result).toContainText('Phone number');
  await result.scrollIntoViewIfNeeded();
  await shot(page, 'settings-test-connection');
  expect(errors).toEqual([]);
});

test('phone width: the chatbots list and the inbox stay usable', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 800 });
  await signIn(page);
  await expect(page.getByText('Demo: pizza order')).toBeVisible();
  await shot(page, 'phone-chatbots');
  await page.getByRole('button', { name: 'Open the menu' }).click();
  await page.getByRole('link', { name: 'Inbox' }).last().click();
  await expect(page.getByRole('heading', { name: 'Inbox' })).toBeVisible();
  await shot(page, 'phone-inbox');
});

test('desktop width: Tab never lands in the phone menu, which is hidden there', async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page); // 1280 px wide: the navigation is in the header, the phone menu is off screen
  await expect(page.getByRole('button', { name: 'New chatbot' }).first()).toBeVisible();
  await page.locator('body').focus();
  const visited: string[] = [];
  for (let i = 0; i < 14; i++) {
    await page.keyboard.press('Tab');
    const where = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return 'body';
      const r = el.getBoundingClientRect();
      const hidden = !!el.closest('.mantine-AppShell-navbar') || r.right <= 0 || r.bottom <= 0 || r.left >= innerWidth;
      return `${hidden ? 'HIDDEN ' : ''}${el.tagName.toLowerCase()} ${(el.textContent ?? '').trim().slice(0, 30)}`;
    });
    visited.push(where);
  }
  expect(visited.filter((v) => v.startsWith('HIDDEN'))).toEqual([]);
  // the keyboard gets from the header to the page's own buttons
  expect(visited.some((v) => v.includes('New chatbot'))).toBe(true);
  expect(errors).toEqual([]);
});

test('phone width: the Bot panel over a conversation closes with Escape or its Close button', async ({ page, request }) => {
  const errors = watchConsole(page);
  const phone = `+1555${Math.floor(1000000 + Math.random() * 8999999)}`;
  const r = await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: 'Pat Phonewidth', text: 'hi' } });
  expect(r.ok()).toBeTruthy();
  await page.setViewportSize({ width: 390, height: 800 });
  await signIn(page);
  await page.goto('/inbox');
  await page.getByTestId('conversation-item').filter({ hasText: 'Pat Phonewidth' }).click();
  const bot = page.getByRole('button', { name: 'Bot', exact: true });
  const panel = page.getByLabel('Bot context');
  await bot.click();
  await expect(panel).toContainText('menu');
  const close = page.getByRole('button', { name: 'Close the bot panel' });
  await expect(close).toBeVisible();
  await expect(close).toBeFocused(); // the panel covers the screen: the keyboard is taken into it
  await expect(close).toContainText('Close');
  await shot(page, 'phone-inbox-bot');
  await page.keyboard.press('Escape');
  await expect(panel).toHaveCount(0);
  await expect(bot).toBeFocused(); // back where it was opened from
  await bot.click();
  await expect(panel).toBeVisible();
  await close.click();
  await expect(panel).toHaveCount(0);
  await expect(page.getByTestId('messages')).toBeVisible();
  expect(errors).toEqual([]);
});

test('phone width: the Test drawer keeps its tabs in view while the chat scrolls', async ({ page }) => {
  const errors = watchConsole(page);
  await page.setViewportSize({ width: 390, height: 800 });
  await signIn(page);
  await page.getByRole('link', { name: 'Demo: pizza order' }).click();
  await page.getByRole('button', { name: 'Test', exact: true }).click();
  const input = page.getByLabel('Test message');
  const transcript = page.getByTestId('test-transcript');
  for (const text of ['hi', 'hello', 'what', 'hi']) {
    await input.fill(text);
    await input.press('Enter');
    await expect(input).toHaveValue('');
  }
  await expect(transcript).toContainText('Welcome to Pizza Place');
  // scroll everything in the drawer to its end, as a thumb would to reach the variables
  const scrolled = await page.getByRole('dialog').evaluate((root) => {
    let moved = 0;
    for (const el of [root, ...Array.from(root.querySelectorAll('*'))])
      if (el.scrollHeight > el.clientHeight + 1) {
        el.scrollTop = el.scrollHeight;
        moved += el.scrollTop;
      }
    return moved;
  });
  expect(scrolled).toBeGreaterThan(0); // there was something to scroll
  for (const name of ['Node', 'Problems', 'Test']) {
    const tab = page.getByRole('tab', { name });
    // on screen and not under anything (the drawer's title bar, say)
    expect(
      await tab.evaluate((t) => {
        const r = t.getBoundingClientRect();
        const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return r.top >= 0 && r.bottom <= innerHeight && !!hit && t.contains(hit);
      }),
    ).toBe(true);
  }
  await shot(page, 'phone-test-panel');
  await page.getByRole('tab', { name: 'Problems' }).click();
  await expect(page.getByRole('tab', { name: 'Problems' })).toHaveAttribute('aria-selected', 'true');
  expect(errors).toEqual([]);
});

test('laptop widths: a conversation keeps its header buttons whole, and the Bot panel opens over it below 1024 px', async ({ page, request }) => {
  const phone = `+1555${Math.floor(1000000 + Math.random() * 8999999)}`;
  const r = await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: 'Alexandra Longname-Example', text: 'hi' } });
  expect(r.ok()).toBeTruthy();
  const whole = async (name: string) => {
    const button = page.getByRole('button', { name, exact: true });
    await expect(button).toBeVisible();
    // nothing of the button is cut off: its text fits, and it lies inside the window
    expect(await button.evaluate((b) => b.scrollWidth <= b.clientWidth + 1 && b.getBoundingClientRect().right <= window.innerWidth)).toBe(true);
  };
  await page.setViewportSize({ width: 1024, height: 768 });
  await signIn(page);
  await page.goto('/inbox');
  await page.getByTestId('conversation-item').filter({ hasText: 'Alexandra' }).click();
  await expect(page.getByLabel('Bot context')).toBeVisible(); // beside the conversation from 1024 px
  await whole('Take over');
  await whole('Bot');
  await page.setViewportSize({ width: 900, height: 700 });
  await page.reload();
  await whole('Take over');
  await expect(page.getByLabel('Bot context')).toHaveCount(0); // on demand below 1024 px
  await page.getByRole('button', { name: 'Bot', exact: true }).click();
  await expect(page.getByLabel('Bot context')).toContainText('menu');
});

test('the API reference at /docs works with no internet (Swagger UI is served by the app)', async ({ page, baseURL }) => {
  const errors = watchConsole(page);
  const own = new URL(baseURL!).host;
  const outside: string[] = [];
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol.startsWith('http') && url.host !== own) {
      outside.push(url.href);
      return route.abort();
    }
    return route.continue();
  });
  await page.goto('/docs');
  await expect(page.getByRole('button', { name: /Authorize/ })).toBeVisible();
  await expect(page.getByText('/api/conversations/{conversation_id}/messages').first()).toBeVisible();
  expect(outside).toEqual([]);
  await shot(page, 'api-docs');
  expect(errors).toEqual([]);
});

test('a chatbot imported without positions opens laid out, not stacked on one spot', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  const nodes = [
    { id: 'start', type: 'start', data: { keywords: ['stacked'] } },
    { id: 'ask', type: 'buttons', data: { text: 'Pick one', buttons: [{ id: 'a', title: 'A' }, { id: 'b', title: 'B' }] } },
    { id: 'bye', type: 'end', data: { text: 'Bye' } },
  ];
  const edges = [
    { id: 'e1', source: 'start', target: 'ask' },
    { id: 'e2', source: 'ask', target: 'bye', sourceHandle: 'a' },
  ];
  await openImported(page, request, { name: 'No positions', nodes, edges });
  const boxes = await Promise.all(['start', 'ask', 'bye'].map(async (id) => (await page.getByTestId(`node-${id}`).boundingBox())!));
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      const overlap = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
      expect(overlap, `nodes ${i} and ${j} overlap`).toBe(false);
    }
  expect(errors).toEqual([]);
});

test('a hand-written file: two nodes under one id both open, an unknown type is named, and opening stores nothing', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  const nodes = [
    { id: 's', type: 'start', position: { x: 0, y: 0 }, data: { triggerKeywords: ['twins'] } },
    { id: 'm', type: 'message', position: { x: 300, y: 0 }, data: { text: 'one' } },
    { id: 'm', type: 'message', position: { x: 300, y: 200 }, data: { text: 'two' } },
    { id: 'x', type: 'teleport', position: { x: 300, y: 400 }, data: {} },
  ];
  await openImported(page, request, { name: 'Twins', nodes, edges: [{ id: 'e1', source: 's', target: 'm' }] });
  await expect(page.getByTestId('node-m')).toContainText('one');
  await expect(page.getByTestId('node-m_1')).toContainText('two');
  await expect(page.getByTestId('node-x')).toContainText('Unknown: teleport');
  await expect(page.getByText('a second “m” is “m_1”', { exact: false })).toBeVisible();
  await expect(page.getByTestId('save-state')).toHaveText('Draft saved');
  const token = decodeURIComponent(/#token=([^&]+)/.exec(LOGIN_URL)![1]);
  const id = page.url().split('/').pop();
  const stored = async () => {
    const got = await request.get(`/api/chatbots/${id}`, { headers: { authorization: `Bearer ${token}` } });
    return ((await got.json()) as { nodes: { id: string; data: { text?: string } }[] }).nodes.map((n) => `${n.id}:${n.data.text ?? ''}`);
  };
  expect(await stored()).toEqual(['s:', 'm:one', 'm:two', 'x:']);
  // the next edit saves both, the second under its new id
  await page.getByTestId('node-m_1').click();
  await page.getByRole('textbox', { name: /^Text/ }).fill('two, edited');
  await expect(page.getByTestId('save-state')).toHaveText('Draft saved');
  await expect.poll(stored).toEqual(['s:', 'm:one', 'm_1:two, edited', 'x:']);
  expect(errors).toEqual([]);
});

test('a connection to a node that is not there is listed in Problems and can be deleted there', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  const nodes = [
    { id: 'start', type: 'start', position: { x: 0, y: 0 }, data: { triggerKeywords: ['ghost'] } },
    { id: 'bye', type: 'end', position: { x: 0, y: 150 }, data: { text: 'Bye' } },
  ];
  const edges = [
    { id: 'e1', source: 'start', target: 'bye' },
    { id: 'e_ghost', source: 'bye', target: 'ghost' },
  ];
  await openImported(page, request, { name: 'Ghost edge', nodes, edges });
  await page.getByRole('button', { name: 'Publish' }).click(); // refused: the problems open
  const problems = page.getByRole('list', { name: 'Problems' });
  await expect(problems).toContainText('A connection goes to a node that is not there');
  await expect(problems).toContainText('connection e_ghost');
  await shot(page, 'flow-missing-node-edge');
  await problems.getByRole('button', { name: 'Delete this connection' }).click();
  await expect(page.getByTestId('save-state')).toHaveText('Draft saved');
  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.getByTestId('publish-state')).toHaveText('published');
  expect(errors).toEqual([]);
});

test('importing a broken chatbot file says what must be fixed before it can go live', async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await page.goto('/chatbots');
  const broken = { name: `Broken import ${Date.now()}`, nodes: [{ id: 'a' }], edges: [] };
  await page.locator('input[type=file]').setInputFiles({ name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(broken)) });
  await expect(page.getByText(`Imported ${broken.name}, with`)).toBeVisible();
  await expect(page.getByText('before publishing')).toBeVisible();
  // a file that is not UTF-8 (here Latin-1) is refused, as the API and the CLI refuse it, not imported mangled
  const latin1 = Buffer.concat([Buffer.from('{"name": "Caf'), Buffer.from([0xe9]), Buffer.from(`${Date.now()}", "nodes": [], "edges": []}`)]);
  await page.locator('input[type=file]').setInputFiles({ name: 'latin1.json', mimeType: 'application/json', buffer: latin1 });
  await expect(page.getByText('The file is not UTF-8 text')).toBeVisible();
  await expect(page.getByText(/^Imported Caf/)).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('the inbox shows only unread or handed-off conversations when asked, live', async ({ page, request }) => {
  const errors = watchConsole(page);
  await signIn(page);
  await page.goto('/inbox');
  const phone = `+1555${Math.floor(1000000 + Math.random() * 8999999)}`;
  const item = page.getByTestId('conversation-item').filter({ hasText: 'Hana Handoff' });
  await page.getByText('Handed off', { exact: true }).click();
  // a customer asks for a person: handed off, and what they wrote stays unread for the operator
  expect((await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: 'Hana Handoff', text: 'hi' } })).ok()).toBeTruthy();
  await expect
    .poll(async () => {
      const res = await request.get(`${SIM}/_simulator/messages`);
      return ((await res.json()) as { items: { to: string }[] }).items.filter((m) => `+${m.to}` === phone).length;
    })
    .toBe(2);
  await expect(item).toHaveCount(0);
  expect((await request.post(`${SIM}/_simulator/inbound`, { data: { from: phone, name: 'Hana Handoff', text: 'agent' } })).ok()).toBeTruthy();
  await expect(item).toBeVisible();
  await expect(item).toHaveAttribute('aria-label', 'Hana Handoff, 1 unread');
  await page.getByText('Unread', { exact: true }).click();
  await expect(item).toBeVisible();
  await shot(page, 'inbox-filter-unread');
  // opened: read, so out of the unread list (the conversation stays open)
  await item.click();
  await expect(page.getByTestId('messages').locator('[data-direction="inbound"]')).toHaveCount(2);
  await expect(item).toHaveCount(0);
  await page.getByText('All', { exact: true }).click();
  await expect(item).toBeVisible();
  expect(errors).toEqual([]);
});
