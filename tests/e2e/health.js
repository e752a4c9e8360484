#!/usr/bin/env node
// Nothing fails silently (issue 17): the demo page in headless Chromium, real
// Janus with the plugin, real workers this script starts and kills. Each
// mistake a user makes, and each change of the fleet, reaches the page as a
// specific error or event within a stated time, and the page shows it:
// an effect no worker offers, a refused ffmpeg: graph, a bare onnx, a model
// no worker has (at start, within 2 s); configure to an unknown effect
// (within 2 s, the stream goes on); the only workers with the session's
// model gone (420 within 3 s) and back; every worker killed (421 within 8 s:
// a killed worker's registry entry lives 5 s) and one back (within 3 s, and
// frames flow again). The picker offers what live workers run.
// run.sh stops its own workers first, and starts them again afterwards.
//   node health.js --out DIR --video FILE --worker PATH --redis-port N --models DIR
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { tapper, servePage, launchBrowser, janusApi } = require('./lib');

const argv = process.argv.slice(2);
const arg = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def; };
const OUT = path.resolve(arg('out', 'tests/out/e2e/health'));
const WORKER = arg('worker');
const REDIS_PORT = String(arg('redis-port', 16379));
const MODELS = path.resolve(arg('models'));
const NO_MODELS = path.join(OUT, 'no-models');
const MODEL = 'rotate_channels.onnx';
const PAGE_PORT = 18085;
const JANUS_WS = 'ws://127.0.0.1:18188/', JANUS_HTTP = 'http://127.0.0.1:18088/janus';
const api = janusApi({ admin: 'http://127.0.0.1:17088/admin', adminSecret: 'e2e', http: JANUS_HTTP });
const T = tapper('health: ');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const workers = new Map();   // id -> child process
function startWorker(id, models) {
  const log = fs.openSync(path.join(OUT, 'worker-' + id + '.log'), 'a');
  const p = spawn(WORKER, ['--port', REDIS_PORT, '--id', id, '--models-dir', models], { stdio: ['ignore', log, log] });
  workers.set(id, p);
  return p;
}
function stopWorker(id, signal) {
  const p = workers.get(id);
  workers.delete(id);
  return new Promise((resolve) => { p.once('exit', resolve); p.kill(signal); });
}
// The plugin's own view (Admin API), read once a second from the registry.
async function liveWorkers() {
  const r = await api.admin({ janus: 'message_plugin', plugin: 'janus.plugin.ooblex', request: { request: 'stats' } });
  return ((r.response && r.response.workers) || []).map((w) => w.id).sort();
}
async function waitFleet(ids, ms) {
  const want = JSON.stringify([...ids].sort());
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (JSON.stringify(await liveWorkers()) === want) return true;
  return false;
}

const pageUrl = (effect) => `http://127.0.0.1:${PAGE_PORT}/index.html?effect=${encodeURIComponent(effect)}&frame_skip=2` +
  `&server=${encodeURIComponent(JANUS_WS)}&server=${encodeURIComponent(JANUS_HTTP)}`;

// Waits for the page to show an event matching pred (demo.events), up to ms
// after `since` (ms since the epoch); returns it with its delay, or null.
async function waitEvent(page, pred, since, ms) {
  try {
    const h = await page.waitForFunction(([p, s]) => {
      const f = new Function('e', 'return (' + p + ')(e)');
      return window.ooblexDemo.events.find((e) => e.at >= s && f(e)) || null;
    }, [pred.toString(), since], { timeout: Math.max(1, since + ms - Date.now()), polling: 50 });
    const ev = await h.jsonValue();
    return Object.assign(ev, { delayMs: ev.at - since });
  } catch (e) {
    return null;
  }
}
const shown = (page) => page.evaluate(() => ({
  events: [...document.querySelectorAll('#events li')].map((li) => li.textContent),
  fleet: document.getElementById('fleet').hidden ? null : { cls: document.getElementById('fleet').className,
    text: document.getElementById('fleet').textContent },
  status: { cls: document.getElementById('status').className, text: document.getElementById('status').textContent },
}));
const frames = (page) => page.evaluate(() => window.ooblexDemo.frames);

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  fs.mkdirSync(NO_MODELS, { recursive: true });
  T.ok(fs.existsSync(path.join(MODELS, MODEL)), 'the test model is there (' + MODEL + ')', MODELS);
  startWorker('hw-1', MODELS);
  startWorker('hw-2', MODELS);
  T.ok(await waitFleet(['hw-1', 'hw-2'], 10000), 'the plugin sees the two workers', JSON.stringify(await liveWorkers()));
  const server = await servePage(PAGE_PORT);
  const browser = await launchBrowser(path.resolve(arg('video', '/tmp/ooblex-e2e-640x480.y4m')));
  try {
    // 1. Refused at start: the error within 2 s of the click, shown, start fails.
    const refusals = [
      ['teleport', 420, /No live worker offers the effect 'teleport' \(live workers offer: .*invert/, 'an effect no worker offers'],
      ['ffmpeg:lut3d=file=/etc/passwd', 415, /Invalid effect name \(ffmpeg: graph/, 'a refused ffmpeg: graph'],
      ['onnx', 420, new RegExp("'onnx' needs a model: onnx:<model> \\(models on live workers: " + MODEL), 'a bare onnx'],
      ['onnx:missing.onnx', 420, /No live worker has the model 'missing\.onnx'/, 'a model no worker has'],
    ];
    for (const [effect, code, reason, what] of refusals) {
      const page = await browser.newPage();
      await page.goto(pageUrl(effect), { waitUntil: 'load' });
      const t0 = await page.evaluate(() => { const t = Date.now(); document.getElementById('start').click(); return t; });
      const ev = await waitEvent(page, (e) => e.kind === 'error', t0, 2000);
      const s = await shown(page);
      const running = await page.evaluate(() => window.ooblexDemo.client.running);
      T.ok(ev && ev.code === code && reason.test(ev.message) && !running, `${what} at start: error ${code} within 2 s`,
        JSON.stringify(ev), JSON.stringify(s));
      T.ok(ev && s.events.some((t) => t.includes(ev.message)) && s.status.cls === 'error', `${what}: the page shows it`, JSON.stringify(s));
      await page.close();
    }

    // 2. A session; the picker offers what live workers run.
    const page = await browser.newPage();
    await page.goto(pageUrl('invert'), { waitUntil: 'load' });
    await page.evaluate(() => document.getElementById('start').click());
    await page.waitForFunction(() => window.ooblexDemo.frames > 3, null, { timeout: 20000 });
    await page.waitForFunction(() => window.ooblexDemo.picker.length > 0, null, { timeout: 5000 }).catch(() => {});
    const picker = await page.evaluate(() => [...document.getElementById('effect').options].map((o) => o.value));
    T.ok(picker.includes('invert') && picker.includes('onnx:' + MODEL) && !picker.includes('onnx') && picker.includes('faces'),
      'the picker offers the live workers\' effects, onnx once per model and never bare', JSON.stringify(picker));

    // 3. configure to an effect no worker offers: 420 within 2 s, the stream goes on.
    let t0 = await page.evaluate(() => { const t = Date.now(); window.ooblexDemo.client.configure({ effect: 'teleport' }); return t; });
    let ev = await waitEvent(page, (e) => e.kind === 'error', t0, 2000);
    const before = await frames(page);
    await sleep(1500);
    const meta = await page.evaluate(() => window.ooblexDemo.lastMeta);
    T.ok(ev && ev.code === 420 && /'teleport'/.test(ev.message), 'configure to an effect no worker offers: 420 within 2 s', JSON.stringify(ev));
    T.ok(await frames(page) > before && meta && meta.effect === 'invert', 'the stream goes on with its effect',
      `${before} -> ${await frames(page)} frames`, JSON.stringify(meta && meta.effect));

    // 4. The session's model: only hw-1 and hw-2 have it; hw-3 has none.
    await page.evaluate((m) => window.ooblexDemo.client.configure({ effect: 'onnx:' + m }), MODEL);
    await page.waitForFunction((m) => window.ooblexDemo.lastMeta && window.ooblexDemo.lastMeta.effect === 'onnx:' + m, MODEL,
      { timeout: 10000 }).catch(() => {});
    startWorker('hw-3', NO_MODELS);
    T.ok(await waitFleet(['hw-1', 'hw-2', 'hw-3'], 10000), 'a third worker, without the model, joins');
    t0 = Date.now();
    await Promise.all([stopWorker('hw-1', 'SIGTERM'), stopWorker('hw-2', 'SIGTERM')]);
    ev = await waitEvent(page, (e) => e.kind === 'workers' && e.state === 'lost', t0, 3000);
    let s = await shown(page);
    T.ok(ev && ev.code === 420 && ev.message.includes("'" + MODEL + "'"),
      'the only workers with the model stop: lost (420) within 3 s, naming the model', JSON.stringify(ev));
    T.ok(s.fleet && s.fleet.cls === 'lost' && ev && s.fleet.text.includes(ev.message), 'the page shows it in its fleet banner', JSON.stringify(s));
    t0 = Date.now();
    startWorker('hw-4', MODELS);
    ev = await waitEvent(page, (e) => e.kind === 'workers' && e.state === 'back', t0, 3000);
    s = await shown(page);
    T.ok(ev !== null, 'a worker with the model comes: back within 3 s', ev && `${ev.delayMs} ms`);
    T.ok(s.fleet && s.fleet.cls === 'back', 'the page shows it', JSON.stringify(s.fleet));

    // 5. Every worker killed, then one back.
    await page.evaluate(() => window.ooblexDemo.client.configure({ effect: 'invert' }));
    await page.waitForFunction(() => window.ooblexDemo.lastMeta && window.ooblexDemo.lastMeta.effect === 'invert', null,
      { timeout: 10000 }).catch(() => {});
    await sleep(1200);   // past the once-a-second limit of the last event
    t0 = Date.now();
    await Promise.all([stopWorker('hw-3', 'SIGKILL'), stopWorker('hw-4', 'SIGKILL')]);
    ev = await waitEvent(page, (e) => e.kind === 'workers' && e.state === 'lost', t0, 8000);
    T.ok(ev && ev.code === 421 && /No worker is alive/.test(ev.message), 'all workers killed: lost (421) within 8 s',
      JSON.stringify(ev));
    if (ev) T.log(`all workers killed: told after ${ev.delayMs} ms`);
    await sleep(3000);
    const told = await page.evaluate((s0) => window.ooblexDemo.events.filter((e) => e.at >= s0 && e.kind === 'workers').length, t0);
    s = await shown(page);
    T.ok(told === 1, 'told once, not at every look', `${told} fleet events in ${Date.now() - t0} ms`);
    T.ok(s.fleet && s.fleet.cls === 'lost' && /start ooblex-worker/.test(s.fleet.text), 'the banner says what to do', JSON.stringify(s.fleet));
    const stalled = await frames(page);
    t0 = Date.now();
    const t5 = t0;
    startWorker('hw-5', MODELS);
    ev = await waitEvent(page, (e) => e.kind === 'workers' && e.state === 'back', t0, 3000);
    T.ok(ev !== null, 'a worker comes back: back within 3 s', ev && `${ev.delayMs} ms`);
    const flowing = await page.waitForFunction((n) => window.ooblexDemo.frames > n + 3, stalled, { timeout: 10000 }).then(() => true, () => false);
    T.ok(flowing, 'and frames flow again', `${stalled} -> ${await frames(page)}`);
    const errors = await page.evaluate((s0) => window.ooblexDemo.events.filter((e) => e.at >= s0 && e.kind === 'error' && e.code >= 430)
      .map((e) => e.message), t5);
    T.ok(errors.length === 0, 'no worker frame errors once the worker is back', ...errors);
    await page.evaluate(() => window.ooblexDemo.client.stop());
  } finally {
    await browser.close();
    server.close();
    await Promise.all([...workers.keys()].map((id) => stopWorker(id, 'SIGTERM')));
  }
  process.exit(T.failures ? 1 : 0);
}
main().catch(async (e) => {
  console.log('not ok - health: ' + (e && e.stack || e));
  for (const p of workers.values()) p.kill('SIGKILL');
  process.exit(1);
});
