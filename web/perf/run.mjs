#!/usr/bin/env node
// Performance figures of the web app against a real server (not part of `make test`):
//   (a) first load on loopback, cold cache: navigation to `load`, and to the first meaningful screen;
//   (b) the initial JavaScript (and CSS) referenced by index.html, raw and gzipped;
//   (c) the flow builder with 200 nodes: time to render, frame rate and long tasks while panning and dragging;
//   (d) the inbox with 10,000 conversations: time to first rows, DOM rows (virtualised), scrolling smoothness.
// Prints a table and writes it to perf/latest.md.
//   npm run perf          (or: make web-perf, which builds first)
// Without E2E_BASE_URL it starts its own database, simulator and server through scripts/with-server.sh
// (the same setup as the e2e tests), then runs itself inside it. Needs psql, Debian's chromium, a built app.
import { spawnSync, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, statSync } from 'node:fs';
import { cpus, totalmem, platform, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = resolve(HERE, '..');
const BUILD = resolve(WEB, '../src/whatsapp_builder/webui');

if (!process.env.E2E_BASE_URL) {
  const r = spawnSync('bash', [join(WEB, 'scripts/with-server.sh'), process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    cwd: WEB,
  });
  process.exit(r.status ?? 1);
}

const { chromium } = await import('playwright-core');
const BASE = process.env.E2E_BASE_URL;
const TOKEN = decodeURIComponent(/#token=([^&\s]+)/.exec(process.env.E2E_LOGIN_URL ?? '')?.[1] ?? '');
const DB = process.env.E2E_DATABASE_URL;
const CONVERSATIONS = Number(process.env.PERF_CONVERSATIONS ?? 10_000);
const NODES = Number(process.env.PERF_NODES ?? 200);
const LOAD_RUNS = Number(process.env.PERF_LOAD_RUNS ?? 5);
if (!TOKEN) throw new Error('perf: no token in E2E_LOGIN_URL');

const rows = []; // [section, metric, value]
const add = (section, metric, value) => {
  rows.push([section, metric, value]);
  console.log(`  ${section} · ${metric}: ${value}`);
};
const ms = (v) => `${Math.round(v)} ms`;
const kb = (b) => `${(b / 1024).toFixed(1)} kB`;
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function api(method, path, body) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

// ---------- (b) initial JavaScript ----------
function bundleSizes() {
  console.log('(b) initial JavaScript');
  const html = readFileSync(join(BUILD, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*\bhref)="([^"]+)"/g)].map((m) => m[1]).filter((u) => u.startsWith('/assets/'));
  const files = [...new Set(refs)].map((u) => {
    const buf = readFileSync(join(BUILD, u));
    return { u, raw: buf.length, gz: gzipSync(buf, { level: 9 }).length };
  });
  const js = files.filter((f) => f.u.endsWith('.js'));
  const css = files.filter((f) => f.u.endsWith('.css'));
  const sum = (l, k) => l.reduce((n, f) => n + f[k], 0);
  add('bundle', `initial JS (${js.length} file${js.length === 1 ? '' : 's'}), gzipped`, `${kb(sum(js, 'gz'))} (raw ${kb(sum(js, 'raw'))})`);
  add('bundle', `initial CSS (${css.length} file${css.length === 1 ? '' : 's'}), gzipped`, `${kb(sum(css, 'gz'))} (raw ${kb(sum(css, 'raw'))})`);
  for (const f of js) console.log(`    ${f.u}: ${kb(f.gz)} gz`);
}

// ---------- browser helpers ----------
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

/** A fresh context (cold HTTP cache), signed in, with `window.__perf` marks set by a MutationObserver. */
async function newPage(watchers) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(
    ({ token, watchers }) => {
      localStorage.setItem('wab.token', token);
      const marks = (window.__perf = {});
      const check = () => {
        for (const w of watchers) {
          if (marks[w.name] !== undefined) continue;
          const els = document.querySelectorAll(w.selector);
          if (els.length >= (w.min ?? 1) && (!w.text || [...els].some((e) => e.textContent?.includes(w.text)))) marks[w.name] = performance.now();
        }
      };
      new MutationObserver(check).observe(document, { childList: true, subtree: true, characterData: true });
      // long tasks from the start (buffered), for every phase
      window.__longTasks = [];
      try {
        new PerformanceObserver((l) => window.__longTasks.push(...l.getEntries().map((e) => ({ start: e.startTime, duration: e.duration })))).observe({
          type: 'longtask',
          buffered: true,
        });
      } catch {
        /* not supported */
      }
    },
    { token: TOKEN, watchers },
  );
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log('    pageerror:', e.message));
  return { context, page };
}

async function waitMark(page, name, timeout = 30_000) {
  await page.waitForFunction((n) => window.__perf?.[n] !== undefined, name, { timeout, polling: 50 });
  return page.evaluate((n) => window.__perf[n], name);
}

/** Runs `action` while counting animation frames and long tasks. */
async function measureFrames(page, action) {
  await page.evaluate(() => {
    const s = (window.__frames = { count: 0, start: performance.now(), last: performance.now(), maxGap: 0, running: true, gaps: [] });
    const tick = (t) => {
      if (!s.running) return;
      s.count++;
      const gap = t - s.last;
      if (gap > s.maxGap) s.maxGap = gap;
      s.gaps.push(gap);
      s.last = t;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame((t) => {
      s.start = s.last = t;
      requestAnimationFrame(tick);
    });
  });
  await action();
  return page.evaluate(() => {
    const s = window.__frames;
    s.running = false;
    const end = performance.now();
    const tasks = window.__longTasks.filter((t) => t.start >= s.start);
    const dropped = s.gaps.filter((g) => g > 34).length; // frames that took more than two vsyncs
    return {
      seconds: (end - s.start) / 1000,
      fps: s.count / ((end - s.start) / 1000),
      maxGap: s.maxGap,
      slowFrames: dropped,
      frames: s.count,
      longTasks: tasks.length,
      longTaskMs: tasks.reduce((n, t) => n + t.duration, 0),
    };
  });
}
const frameSummary = (r) =>
  `${r.fps.toFixed(0)} fps over ${r.seconds.toFixed(1)} s; longest frame ${Math.round(r.maxGap)} ms; ${r.slowFrames} frames > 34 ms; ${r.longTasks} long tasks (${Math.round(r.longTaskMs)} ms)`;

// ---------- (a) first load ----------
async function firstLoad() {
  console.log(`(a) first load, cold cache (median of ${LOAD_RUNS})`);
  const loads = [];
  const meaningful = [];
  const dcl = [];
  const transfer = [];
  for (let i = 0; i < LOAD_RUNS; i++) {
    const { context, page } = await newPage([{ name: 'chatbots', selector: 'main', text: 'Demo: pizza order' }]);
    await page.goto(`${BASE}/chatbots`, { waitUntil: 'load' });
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0];
      const bytes = performance.getEntriesByType('resource').reduce((s, r) => s + (r.transferSize || 0), n.transferSize || 0);
      return { load: n.loadEventEnd || n.loadEventStart, dcl: n.domContentLoadedEventEnd, bytes };
    });
    meaningful.push(await waitMark(page, 'chatbots'));
    loads.push(nav.load);
    dcl.push(nav.dcl);
    transfer.push(nav.bytes);
    await context.close();
  }
  add('first load', 'navigation → DOMContentLoaded', ms(median(dcl)));
  add('first load', 'navigation → load', ms(median(loads)));
  add('first load', 'navigation → chatbots list shown', `${ms(median(meaningful))} (min ${ms(Math.min(...meaningful))}, max ${ms(Math.max(...meaningful))})`);
  add('first load', 'bytes transferred by load', kb(median(transfer)));
}

// ---------- (c) canvas with many nodes ----------
async function canvas() {
  console.log(`(c) flow builder with ${NODES} nodes`);
  const cols = 20;
  const nodes = [{ id: 'start', type: 'start', position: { x: 0, y: 0 }, data: { label: 'Start', triggerKeywords: ['perf'] } }];
  for (let i = 1; i < NODES; i++)
    nodes.push({ id: `m${i}`, type: 'message', position: { x: (i % cols) * 280, y: Math.floor(i / cols) * 160 }, data: { text: `Message number ${i}: hello {{contact.name}}` } });
  const edges = nodes.slice(1).map((n, i) => ({ id: `e${i}`, source: nodes[i].id, target: n.id, sourceHandle: null }));
  const bot = await api('POST', '/api/chatbots', { name: `Perf ${NODES} nodes`, nodes, edges, isActive: false });

  const { context, page } = await newPage([{ name: 'nodes', selector: '.react-flow__node', min: NODES }]);
  // warm the app's own files first (a cold app load is measured above), then open the builder in the app
  await page.goto(`${BASE}/chatbots`);
  await page.getByText(`Perf ${NODES} nodes`).waitFor();
  const t0 = await page.evaluate(() => performance.now());
  await page.evaluate((id) => {
    history.pushState({}, '', `/chatbots/${id}`);
    dispatchEvent(new PopStateEvent('popstate'));
  }, bot.id);
  const t1 = await waitMark(page, 'nodes');
  add('canvas', `open → ${NODES} nodes rendered (in-app navigation)`, ms(t1 - t0));
  const rendered = await page.locator('.react-flow__node').count();
  add('canvas', 'nodes / edges in the DOM', `${rendered} / ${await page.locator('.react-flow__edge').count()}`);
  await page.waitForTimeout(500);

  const pane = await page.locator('.react-flow__pane').boundingBox();
  const cx = pane.x + pane.width / 2;
  const cy = pane.y + pane.height / 2;
  const pan = await measureFrames(page, async () => {
    const until = Date.now() + 3000;
    let dir = 1;
    while (Date.now() < until) {
      // start on empty space: under the nodes' grid, the pane is empty between rows
      await page.mouse.move(cx, cy + 70);
      await page.mouse.down();
      await page.mouse.move(cx + dir * 300, cy + 70 + dir * 120, { steps: 30 });
      await page.mouse.up();
      dir = -dir;
    }
  });
  add('canvas', 'panning (drag on the pane)', frameSummary(pan));

  // a node inside the view
  const handle = await page.evaluateHandle(() => {
    const pane = document.querySelector('.react-flow__pane').getBoundingClientRect();
    return [...document.querySelectorAll('.react-flow__node')].find((n) => {
      const r = n.getBoundingClientRect();
      return r.left > pane.left + 100 && r.right < pane.right - 100 && r.top > pane.top + 100 && r.bottom < pane.bottom - 100;
    });
  });
  const node = handle.asElement();
  if (!node) {
    add('canvas', 'dragging a node', 'no node in view');
  } else {
    const box = await node.boundingBox();
    const nx = box.x + box.width / 2;
    const ny = box.y + 12;
    const drag = await measureFrames(page, async () => {
      await page.mouse.move(nx, ny);
      await page.mouse.down();
      const until = Date.now() + 3000;
      let i = 0;
      while (Date.now() < until) {
        i++;
        await page.mouse.move(nx + Math.sin(i / 10) * 200, ny + Math.cos(i / 10) * 100, { steps: 2 });
      }
      await page.mouse.up();
    });
    add('canvas', 'dragging a node', frameSummary(drag));
  }
  await context.close();
}

// ---------- (d) inbox with many conversations ----------
function psql(sql) {
  return execFileSync('psql', [DB, '-v', 'ON_ERROR_STOP=1', '-q', '-At', '-c', sql], { encoding: 'utf8' }).trim();
}

async function inbox() {
  console.log(`(d) inbox with ${CONVERSATIONS} conversations`);
  const t = Date.now();
  psql(`
    BEGIN;
    CREATE TEMP TABLE perf_users AS
      SELECT gen_random_uuid() AS id, g AS n FROM generate_series(1, ${CONVERSATIONS}) AS g;
    INSERT INTO users (id, name, "phoneNumber")
      SELECT id, 'Perf Customer ' || n, '+1999' || lpad(n::text, 7, '0') FROM perf_users;
    INSERT INTO conversations (id, "customerId", "lastMessage", "lastMessageAt", "lastCustomerMessageAt", "isWindowOpen", "whatsappPhoneNumberId")
      SELECT gen_random_uuid(), id, 'Message from customer ' || n,
             now() - (n * interval '7 minutes'), now() - (n * interval '7 minutes'), n < 200,
             (SELECT "whatsappPhoneNumberId" FROM conversations WHERE "whatsappPhoneNumberId" IS NOT NULL LIMIT 1)
        FROM perf_users;
    INSERT INTO conversation_participants ("conversationId", "userId")
      SELECT c.id, c."customerId" FROM conversations c JOIN perf_users u ON u.id = c."customerId";
    COMMIT;
    ANALYZE users; ANALYZE conversations; ANALYZE conversation_participants;`);
  const total = psql('SELECT count(*) FROM conversations');
  console.log(`    inserted in ${Date.now() - t} ms; ${total} conversations in the database`);
  add('inbox', 'conversations in the database', total);

  // API alone
  const a0 = performance.now();
  await api('GET', '/api/conversations?limit=50');
  add('inbox', 'GET /api/conversations?limit=50 (server)', ms(performance.now() - a0));
  const s0 = performance.now();
  const found = await api('GET', `/api/conversations?limit=50&q=${encodeURIComponent('Customer 4242')}`);
  add('inbox', `GET /api/conversations?q= (server search, ${found.items.length} found)`, ms(performance.now() - s0));

  const { context, page } = await newPage([{ name: 'rows', selector: '[data-testid="conversation-item"]' }]);
  await page.goto(`${BASE}/chatbots`);
  await page.getByText('Demo: pizza order').waitFor();
  const t0 = await page.evaluate(() => performance.now());
  await page.evaluate(() => {
    history.pushState({}, '', '/inbox');
    dispatchEvent(new PopStateEvent('popstate'));
  });
  const t1 = await waitMark(page, 'rows');
  add('inbox', 'open → first rows (in-app navigation)', ms(t1 - t0));
  await page.waitForTimeout(300);
  const domRows = await page.locator('[data-testid="conversation-item"]').count();
  add('inbox', 'rows in the DOM at first', String(domRows));

  const list = await page.getByRole('list', { name: 'Conversations' }).boundingBox();
  await page.mouse.move(list.x + list.width / 2, list.y + list.height / 2);
  const scroll = await measureFrames(page, async () => {
    const until = Date.now() + 4000;
    while (Date.now() < until) {
      await page.mouse.wheel(0, 600);
      await page.waitForTimeout(16);
    }
  });
  add('inbox', 'scrolling (wheel, 4 s)', frameSummary(scroll));
  const after = await page.evaluate(() => {
    const el = document.querySelector('[aria-label="Conversations"]');
    return { rows: document.querySelectorAll('[data-testid="conversation-item"]').length, scrolled: el.scrollTop, height: el.scrollHeight };
  });
  add('inbox', 'rows in the DOM after scrolling', `${after.rows} (list scrolled ${Math.round(after.scrolled)} px of ${after.height} px: ${Math.round(after.height / 72)} rows loaded)`);

  // search on the server, through the UI (debounced 300 ms)
  const q0 = await page.evaluate(() => performance.now());
  await page.getByLabel('Search conversations').fill('Customer 4242');
  await page.waitForFunction(() => {
    const items = document.querySelectorAll('[data-testid="conversation-item"]');
    return items.length > 0 && [...items].every((i) => i.textContent.includes('Customer 4242'));
  });
  const q1 = await page.evaluate(() => performance.now());
  add('inbox', 'typing a search → results (incl. 300 ms debounce)', ms(q1 - q0));
  await context.close();
}

// ---------- run ----------
const started = Date.now();
bundleSizes();
await firstLoad();
await canvas();
await inbox();
await browser.close();

const chromiumVersion = (() => {
  try {
    return execFileSync(process.env.CHROMIUM ?? '/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'chromium';
  }
})();
const built = new Date(statSync(join(BUILD, 'index.html')).mtimeMs).toISOString();
const widths = [Math.max(...rows.map((r) => r[0].length), 7), Math.max(...rows.map((r) => r[1].length), 6), Math.max(...rows.map((r) => r[2].length), 5)];
const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
const table = [line(['section', 'metric', 'value']), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
const env = `${new Date().toISOString()} · ${chromiumVersion}, headless, --disable-gpu · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} · ${(totalmem() / 2 ** 30).toFixed(0)} GB · ${platform()} ${release()} · Node ${process.version} · build of ${built}`;
console.log(`\n${table}\n\n${env}\nin ${((Date.now() - started) / 1000).toFixed(0)} s`);
writeFileSync(
  join(HERE, 'latest.md'),
  `# Performance figures (\`npm run perf\`)\n\n${env}.\n\nServer, database and browser on the same machine (loopback). ${LOAD_RUNS} cold loads (new browser context each: empty cache); canvas: ${NODES} nodes in a chain; inbox: ${CONVERSATIONS} conversations inserted with SQL.\n\n${table}\n`,
);
console.log(`wrote ${join(HERE, 'latest.md')}`);
