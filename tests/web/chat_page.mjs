// chat_page.mjs — drives the chat page in headless Chromium (playwright-core, system chromium) against running
// `llamac serve` instances; started by tests/web/test_chat_page.py, which passes one JSON argument:
//   {node_dir, chromium, shots, open: {url, pid, overflow_words}, keyed: {url, key, words},
//    tool: {url, name, arguments}}
// `open` answers every question with the scripted markdown `answer` (containing <script> and <img onerror> text);
// `keyed` needs an API key and talks forever (its answer repeats `words`); `tool` answers with one tool call.
// Prints one line per step; exits 1 at the first failed check (with a screenshot of the page as it was).
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';

const cfg = JSON.parse(process.argv[2]);
const require = createRequire(path.join(cfg.node_dir, 'package.json'));
const { chromium } = require('playwright-core');
fs.mkdirSync(cfg.shots, { recursive: true });

const WAIT = 30000;
let current = null; // the page a failure screenshot is taken of
let step = '';

class CheckError extends Error {}
function check(cond, msg) {
  if (!cond) throw new CheckError(msg);
}
function log(s) {
  step = s;
  console.log('- ' + s);
}
async function shot(page, name) {
  const file = path.join(cfg.shots, name + '.png');
  await page.screenshot({ path: file });
  console.log('  screenshot ' + file);
}

// Every page gets the same guards: a script error, a dialog (alert from an onerror) or a CSP violation fails the
// test at the end; `pwned` lists what happened.
async function newPage(browser, options) {
  const context = await browser.newContext(Object.assign({ viewport: { width: 1280, height: 800 },
                                                           colorScheme: 'light' }, options));
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push('page error: ' + e.message));
  page.on('dialog', async (d) => {
    if (d.type() === 'confirm' && d.message().startsWith('Delete')) return d.accept();
    page.problems.push('unexpected dialog: ' + d.type() + ' ' + d.message());
    return d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|401|400/.test(m.text()))
      page.problems.push('console error: ' + m.text());
  });
  current = page;
  return { context, page };
}

const answers = (page) => page.locator('#messages .msg.assistant');
const lastAnswer = (page) => answers(page).last();

async function send(page, text) {
  await page.locator('#input').fill(text);
  await page.locator('#input').press('Enter');
}

async function waitDone(page, count) {
  await page.waitForFunction((n) => {
    const a = document.querySelectorAll('#messages .msg.assistant');
    return a.length === n && a[n - 1].dataset.state === 'done';
  }, count, { timeout: WAIT });
}

async function metric(url, name, key) {
  const res = await fetch(url + '/metrics', { headers: key ? { Authorization: 'Bearer ' + key } : {} });
  check(res.ok, `/metrics answered ${res.status}`);
  const text = await res.text();
  const m = new RegExp('^' + name + '(?:\\{[^}]*\\})? ([0-9.e+]+)$', 'm').exec(text);
  check(m, `/metrics has no ${name}:\n${text.slice(0, 2000)}`);
  return Number(m[1]);
}

async function testOpenServer(browser) {
  const { context, page } = await newPage(browser);
  const url = cfg.open.url;
  log('load the page');
  const resp = await page.goto(url + '/');
  check(resp.status() === 200, `GET / -> ${resp.status()}`);
  check((await page.title()).includes('llamac'), 'page title');
  check(await page.locator('#input').evaluate((e) => e === document.activeElement), 'message box not focused');

  log('keyboard: Shift+Enter is a new line; every control has a name; Tab reaches the controls');
  await page.locator('#input').press('a');
  await page.locator('#input').press('Shift+Enter');
  await page.locator('#input').press('b');
  check((await page.locator('#input').inputValue()) === 'a\nb', 'Shift+Enter did not make a new line');
  check(await page.locator('#messages .msg').count() === 0, 'Shift+Enter sent the message');
  await page.locator('#input').fill('');
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('button, input, textarea')]
    .filter((e) => !e.closest('[hidden]'))
    .filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim() || (e.labels && e.labels.length)))
    .map((e) => e.outerHTML.slice(0, 80)));
  check(unnamed.length === 0, 'controls without a name: ' + unnamed.join(', '));
  const reached = new Set();
  await page.locator('#new-chat').focus();
  for (let i = 0; i < 12; i++) {
    reached.add(await page.evaluate(() => document.activeElement.id || document.activeElement.className));
    await page.keyboard.press('Tab');
  }
  for (const id of ['new-chat', 'toggle-settings', 'input', 'send'])
    check(reached.has(id), `Tab never reaches #${id} (reached: ${[...reached].join(', ')})`);

  log('type a message, Enter, the answer streams in and finishes');
  await send(page, 'Show me some markdown');
  await page.locator('#messages .msg.user').first().waitFor();
  check((await page.locator('#input').inputValue()) === '', 'message box not emptied');
  await waitDone(page, 1);
  const body = lastAnswer(page).locator('.body');
  const text = await body.innerText();
  for (const part of ['Safety check:', 'bold', 'emphasis', 'inline code', 'apples,', 'pears!', 'int main(void)'])
    check(text.includes(part), `answer lacks "${part}": ${text}`);
  const stats = await lastAnswer(page).locator('.stats').innerText();
  check(/TTFT \d+ ms/.test(stats) && /tok\/s/.test(stats), `stats line: "${stats}"`);
  check(await lastAnswer(page).locator('.note').count() === 0, 'a complete answer carries a note');

  log('markdown rendered as elements: heading, strong, em, code, list, code block');
  check(await body.locator('h3').innerText() === 'Safety check:', 'heading');
  check(await body.locator('strong').innerText() === 'bold', 'strong');
  check(await body.locator('em').innerText() === 'emphasis', 'em');
  check(await body.locator('p code').innerText() === 'inline code', 'inline code');
  check(await body.locator('ul > li').count() === 2, 'list items');
  const code = (await body.locator('.codeblock pre code').innerText()).trim();
  check(code === 'int main(void) { return 0; }', `code block: ${code}`);

  log('the <script> and <img onerror> of the answer are text; nothing ran');
  check(text.includes('<script>window.pwned=true</SCRIPT>'), 'script text not shown literally');
  check(text.includes('<img src=x onerror=alert(1)>'), 'img text not shown literally');
  check(await page.locator('#messages script, #messages img, #messages iframe').count() === 0,
        'the answer created script/img elements');
  check(await page.evaluate(() => window.pwned === undefined), 'window.pwned was set');

  log('copy the code block');
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
  await body.locator('.codeblock .copy').click();
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  check(clip.trim() === 'int main(void) { return 0; }', `clipboard holds "${clip}"`);

  log('regenerate the last answer');
  await lastAnswer(page).locator('.regenerate').click();
  await waitDone(page, 1);
  check(await page.locator('#messages .msg').count() === 2, 'regenerate changed the message count');

  log('a second conversation; switch between them');
  await page.locator('#new-chat').click();
  check(await page.locator('#messages .msg').count() === 0, 'new chat not empty');
  await send(page, 'Second conversation here');
  await waitDone(page, 1);
  const items = page.locator('#conversations li');
  check(await items.count() === 2, 'conversation list does not hold 2 entries');
  await items.filter({ hasText: 'Show me some markdown' }).locator('.open').click();
  check(await page.locator('#messages .msg.user .body').innerText() === 'Show me some markdown', 'switch to the first');
  await items.filter({ hasText: 'Second conversation' }).locator('.open').click();
  check(await page.locator('#messages .msg.user .body').innerText() === 'Second conversation here', 'switch back');

  log('rename the conversation');
  await page.locator('#conversations li.current .rename').click();
  await page.locator('#conversations .rename-input').fill('Renamed chat');
  await page.locator('#conversations .rename-input').press('Enter');
  check(await page.locator('#conversations li.current .open').innerText() === 'Renamed chat', 'rename in list');
  check(await page.locator('#chat-title').innerText() === 'Renamed chat', 'rename in title');

  log('reload: both conversations kept, the current one shown');
  await page.reload();
  check(await items.count() === 2, 'conversations lost on reload');
  check(await page.locator('#chat-title').innerText() === 'Renamed chat', 'current conversation not kept');
  check(await page.locator('#messages .msg').count() === 2, 'messages lost on reload');
  await items.filter({ hasText: 'Show me some markdown' }).locator('.open').click();
  check((await lastAnswer(page).locator('.body').innerText()).includes('int main(void)'), 'answer lost on reload');
  await page.locator('#input').blur();
  await shot(page, 'desktop-light');

  log('delete a conversation');
  const doomed = page.locator('#conversations li', { hasText: 'Renamed chat' });
  await doomed.hover(); // Rename / Delete of another entry show on hover (and on keyboard focus)
  await doomed.locator('.delete').click();
  check(await items.count() === 1, 'delete did not remove the conversation');

  log('context full: a clear message');
  await send(page, 'word '.repeat(cfg.open.overflow_words));
  await page.locator('#error').waitFor({ state: 'visible', timeout: WAIT });
  const kind = await page.locator('#error').getAttribute('data-kind');
  const etext = await page.locator('#error-text').innerText();
  check(kind === 'context', `context overflow shown as "${kind}": ${etext}`);
  check(await page.locator('#error-retry').isHidden(), 'Retry offered for a message that cannot fit');
  check((await page.locator('#input').inputValue()).startsWith('word word'), 'the long message is not back in the box');
  check(await page.locator('#messages .msg').count() === 2, 'the unanswered long message stayed in the conversation');
  await shot(page, 'error-context');
  await page.locator('#error-close').click();
  await page.locator('#input').fill('');

  log('server down: a clear message');
  process.kill(cfg.open.pid, 'SIGTERM');
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url + '/metrics');
      await new Promise((r) => setTimeout(r, 100));
    } catch (e) {
      break;
    }
  }
  await send(page, 'Anybody there?');
  await page.locator('#error[data-kind="network"]').waitFor({ state: 'visible', timeout: WAIT });
  check((await page.locator('#error-text').innerText()).includes('Cannot reach the server'), 'network error text');
  await shot(page, 'error-server-down');
  check(page.problems.length === 0, 'problems: ' + page.problems.join('; '));
  await context.close();
}

async function testThemesAndPhone(browser, url) {
  log('dark theme follows the system');
  {
    const { context, page } = await newPage(browser, { colorScheme: 'dark' });
    await page.goto(url + '/');
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    check(bg === 'rgb(24, 24, 27)', `dark background is ${bg}`);
    await send(page, 'Show me some markdown');
    await waitDone(page, 1);
    await shot(page, 'desktop-dark');
    check(page.problems.length === 0, 'problems: ' + page.problems.join('; '));
    await context.close();
  }
  log('phone viewport 390x844');
  const { context, page } = await newPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true,
                                                     hasTouch: true, deviceScaleFactor: 2 });
  await page.goto(url + '/');
  check(await page.locator('#sidebar').isHidden() || !(await page.locator('#sidebar').isVisible()),
        'sidebar shown on a phone');
  await send(page, 'Hello from a phone');
  await waitDone(page, 1);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  check(overflow <= 390, `page is ${overflow}px wide on a 390px screen`);
  const box = await page.locator('#input').boundingBox();
  check(box && box.y + box.height <= 844 && box.width > 200, 'message box off screen or too narrow');
  await shot(page, 'phone');
  await page.locator('#toggle-settings').click();
  check(await page.locator('#system').isVisible(), 'settings do not open on a phone');
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 390, `settings make the page ${wide}px wide`);
  await shot(page, 'phone-settings');
  await page.locator('#toggle-settings').click();
  await page.locator('#open-sidebar').click();
  await page.locator('#sidebar.open').waitFor();
  await page.waitForTimeout(300); // the drawer's slide-in, for the screenshot only
  check(await page.locator('#conversations li').count() === 1, 'phone drawer list');
  await shot(page, 'phone-conversations');
  await page.keyboard.press('Escape');
  check(!(await page.locator('#sidebar').evaluate((e) => e.classList.contains('open'))), 'Escape did not close');
  check(page.problems.length === 0, 'problems: ' + page.problems.join('; '));
  await context.close();
}

async function testToolCall(browser) {
  const { context, page } = await newPage(browser);
  log('a tool call is shown as JSON');
  await page.goto(cfg.tool.url + '/');
  await page.locator('#toggle-settings').click();
  await page.locator('#tools').fill('[not json');
  await page.locator('#tools').blur();
  check((await page.locator('#tools-error').innerText()).includes('not valid JSON'), 'bad tools JSON not reported');
  await page.locator('#tools').fill(JSON.stringify(cfg.tool.tools));
  await page.locator('#tools').blur();
  check(await page.locator('#tools-error').innerText() === '', 'good tools JSON reported');
  await page.locator('#system').fill('Be brief.');
  await page.locator('#temperature').fill('0.3');
  await page.locator('#max-tokens').fill('64');
  await page.locator('#max-tokens').blur();
  await page.locator('#toggle-settings').click();
  const sent = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
  await send(page, 'What is the weather in Paris?');
  const body = JSON.parse((await sent).postData());
  check(body.stream === true && body.messages[0].role === 'system' && body.messages[0].content === 'Be brief.',
        'system prompt not sent: ' + JSON.stringify(body.messages));
  const roles = body.messages.map((m) => m.role).join(',');
  check(roles === 'system,user', `roles sent: ${roles} (want system,user)`);
  check(body.temperature === 0.3 && body.top_p === 0.9 && body.max_tokens === 64, 'sampling settings not sent');
  check(Array.isArray(body.tools) && body.tools[0].function.name === cfg.tool.name, 'tools not sent');
  await waitDone(page, 1);
  const json = await lastAnswer(page).locator('.toolcall pre code').innerText();
  let calls = null;
  try {
    calls = JSON.parse(json);
  } catch (e) { /* checked below */ }
  check(Array.isArray(calls) && calls.length === 1 && calls[0].name === cfg.tool.name &&
        JSON.stringify(calls[0].arguments) === JSON.stringify(cfg.tool.arguments), `tool call shown as ${json}`);
  await shot(page, 'tool-call');
  const sent2 = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
  await send(page, 'Thanks, and tomorrow?'); // the call goes back to the server in the history
  const body2 = JSON.parse((await sent2).postData());
  const roles2 = body2.messages.map((m) => m.role).join(',');
  check(roles2 === 'system,user,assistant,user', `roles sent: ${roles2}`);
  check(body2.messages[2].tool_calls[0].function.name === cfg.tool.name, 'the tool call is not in the history');
  await waitDone(page, 2);
  check(await page.locator('#error').isHidden(), 'a follow-up after a tool call failed: ' +
        await page.locator('#error-text').innerText());
  check(page.problems.length === 0, 'problems: ' + page.problems.join('; '));
  await context.close();
}

async function testKeyedServer(browser) {
  const { context, page } = await newPage(browser);
  const { url, key } = cfg.keyed;
  log('key-protected server: 401 shown with a key field');
  await page.goto(url + '/');
  await page.locator('#error[data-kind="auth"]').waitFor({ state: 'visible', timeout: WAIT });
  check(await page.locator('#key-input').isVisible(), 'no API key field');
  await shot(page, 'api-key');
  await page.locator('#key-input').fill('wrong-key');
  await page.locator('#key-input').press('Enter');
  await page.locator('#error[data-kind="auth"]').waitFor({ state: 'visible', timeout: WAIT });
  check((await page.locator('#error-text').innerText()).includes('refused'), 'wrong key not reported');
  await page.locator('#key-input').fill(key);
  await page.locator('#key-input').press('Enter');
  await page.locator('#error').waitFor({ state: 'hidden', timeout: WAIT });
  check(await page.evaluate(() => localStorage.getItem('llamac.apiKey')) === key, 'key not stored');

  log('a long answer grows while streaming');
  const before = await metric(url, 'llamac_cancellations_total', key);
  const sent = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
  await send(page, 'Talk to me');
  check((await sent).headers()['authorization'] === 'Bearer ' + key, 'the key is not sent as a Bearer token');
  const answer = lastAnswer(page);
  await page.waitForFunction(() => {
    const a = document.querySelector('#messages .msg.assistant[data-state="streaming"] .body');
    return a && a.textContent.length > 0;
  }, null, { timeout: WAIT });
  const len1 = (await answer.locator('.body').textContent()).length;
  await page.waitForFunction((n) => {
    const a = document.querySelector('#messages .msg.assistant[data-state="streaming"] .body');
    return a && a.textContent.length > n + 20;
  }, len1, { timeout: WAIT });
  check(await page.locator('#stop').isVisible() && await page.locator('#send').isHidden(), 'Stop not offered');
  check(await answer.locator('.body').getAttribute('aria-busy') === 'true', 'streaming answer not aria-busy');
  check(await answer.locator('.regenerate').count() === 0, 'Regenerate offered on the answer being written');
  check((await answer.locator('.body').textContent()).includes(cfg.keyed.words), 'long answer text');

  log('Stop: the request is aborted and the server counts a cancellation');
  await page.locator('#stop').click();
  await page.waitForFunction(() => {
    const a = document.querySelectorAll('#messages .msg.assistant');
    return a.length === 1 && a[0].dataset.state === 'stopped';
  }, null, { timeout: WAIT });
  check((await answer.locator('.note').innerText()) === 'Stopped', 'no Stopped note');
  let after = before;
  for (let i = 0; i < 100 && after <= before; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await metric(url, 'llamac_cancellations_total', key);
  }
  check(after === before + 1, `llamac_cancellations_total went ${before} -> ${after}`);
  let busy = 1;
  for (let i = 0; i < 100 && busy !== 0; i++) {
    busy = await metric(url, 'llamac_busy_sequences', key);
    if (busy) await new Promise((r) => setTimeout(r, 100));
  }
  check(busy === 0, `llamac_busy_sequences stays ${busy} after Stop`);
  await shot(page, 'stopped');
  check(page.problems.length === 0, 'problems: ' + page.problems.join('; '));
  await context.close();
}

const browser = await chromium.launch({ executablePath: cfg.chromium, args: ['--no-sandbox'] });
let failed = false;
try {
  await testKeyedServer(browser);
  await testToolCall(browser);
  await testThemesAndPhone(browser, cfg.open.url);
  await testOpenServer(browser);
  console.log('chat page: all checks passed');
} catch (e) {
  failed = true;
  console.error(`FAIL (${step}): ${e instanceof CheckError ? e.message : e.stack}`);
  if (current) {
    try {
      await shot(current, 'failure');
    } catch (e2) { /* the page is gone */ }
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
