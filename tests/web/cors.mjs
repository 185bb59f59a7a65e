// cors.mjs — cross-origin calls from a real browser (headless Chromium, playwright-core) to `llamac serve`;
// started by tests/web/test_chat_page.py (test_cors_in_browser) with one JSON argument:
//   {node_dir, chromium, page_url, allowed: {url, key}, closed: {url}}
// page_url is a page of another origin (another port); `allowed` was started with --cors-origin of that origin
// and an API key, `closed` without --cors-origin. The page calls both with fetch, as a web app using the API
// would (Authorization, JSON, an extra custom header that forces a preflight, a stream): the browser must let
// the page read `allowed`'s answers and refuse `closed`'s. Prints one line per step; exits 1 at the first failure.
import { createRequire } from 'node:module';
import path from 'node:path';

const cfg = JSON.parse(process.argv[2]);
const require = createRequire(path.join(cfg.node_dir, 'package.json'));
const { chromium } = require('playwright-core');

function check(cond, msg) {
  if (!cond) {
    console.log('FAIL: ' + msg);
    process.exit(1);
  }
}

const browser = await chromium.launch({ executablePath: cfg.chromium, args: ['--no-sandbox'] });
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(cfg.page_url);
  const call = (args) => page.evaluate(async ({ url, key, stream, custom }) => {
    const headers = { 'Content-Type': 'application/json' };
    if (key) headers.Authorization = 'Bearer ' + key;
    if (custom) headers['X-Stainless-OS'] = 'Linux';
    try {
      const r = await fetch(url + '/v1/chat/completions', {
        method: 'POST', headers,
        body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, stream }),
      });
      const text = await r.text();
      return { ok: true, status: r.status, text };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  }, args);

  console.log('- allowed origin: a whole answer with a preflight (Authorization + a custom header)');
  let r = await call({ url: cfg.allowed.url, key: cfg.allowed.key, stream: false, custom: true });
  check(r.ok && r.status === 200, 'whole answer: ' + JSON.stringify(r).slice(0, 300));
  check(JSON.parse(r.text).choices[0].message.content.length > 0, 'no content: ' + r.text.slice(0, 300));

  console.log('- allowed origin: a stream');
  r = await call({ url: cfg.allowed.url, key: cfg.allowed.key, stream: true, custom: true });
  check(r.ok && r.status === 200 && r.text.includes('data: [DONE]'), 'stream: ' + JSON.stringify(r).slice(0, 300));

  console.log('- allowed origin: the page can read a 401 (wrong key)');
  r = await call({ url: cfg.allowed.url, key: 'wrong', stream: false, custom: false });
  check(r.ok && r.status === 401 && JSON.parse(r.text).error.type === 'authentication_error',
        '401: ' + JSON.stringify(r).slice(0, 300));

  console.log('- a server without --cors-origin: the browser refuses to give the page the answer');
  r = await call({ url: cfg.closed.url, key: null, stream: false, custom: false });
  check(!r.ok && /TypeError|Failed to fetch/.test(r.error), 'closed server was readable: ' + JSON.stringify(r));
  r = await call({ url: cfg.closed.url, key: null, stream: false, custom: true });
  check(!r.ok, 'closed server answered a preflighted call: ' + JSON.stringify(r));
  console.log('ok');
} finally {
  await browser.close();
}
