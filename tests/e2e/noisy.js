#!/usr/bin/env node
// Noisy neighbour (issue 14): two browser sessions on one fleet, one whose
// effect holds a worker 500 ms per frame (`stall:ms=500`, the test module
// tests/effects/stall_effect.c), the other 2 ms (`stall:ms=2`); both go to
// frames_to_process:stall, served by three workers (run.sh starts them).
// The fast client is measured alone, then beside the slow one, in the same
// run: it keeps at least 90% of its processed fps and its p95 (first packet
// at Janus to the JPEG complete in the page) stays within BUDGET_MS. The
// slow one is held to its fair share (two of the three workers) and told:
// its stats (fair.*, frames.deferred_fair_share), the 'fair' event and the
// demo page's overlay. Taken past the per-frame budget (1500 ms frames,
// frame_budget_ms = 1000 in run.sh) it is counted (frames.over_budget,
// ooblex_frames_over_budget_total) and held to one frame in flight. A third session started
// while the fleet is spoken for starts degraded, as its start response says.
//   node noisy.js --out DIR --video FILE [--metrics DIR]
'use strict';
const fs = require('fs');
const path = require('path');
const { tapper, servePage, launchBrowser, janusApi } = require('./lib');

const argv = process.argv.slice(2);
const arg = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def; };
const OUT = path.resolve(arg('out', 'tests/out/e2e/noisy'));
const METRICS = arg('metrics', null);
const PAGE_PORT = 18084;
const JANUS_WS = 'ws://127.0.0.1:18188/';
const api = janusApi({ admin: 'http://127.0.0.1:17088/admin', adminSecret: 'e2e', http: 'http://127.0.0.1:18088/janus' });
const T = tapper('noisy: ');
const FAST = 'stall:ms=2', SLOW = 'stall:ms=500';
const MEASURE_MS = 8000;
// The fast client's latency budget: alone it is a few tens of ms; behind a
// 500 ms frame in a shared queue it would be over 500.
const BUDGET_MS = 150;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function open(context, effect) {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${PAGE_PORT}/index.html?autostart=1&frame_skip=3&effect=${encodeURIComponent(effect)}` +
    `&server=${encodeURIComponent(JANUS_WS)}`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.ooblexDemo && window.ooblexDemo.client && window.ooblexDemo.client.clientId,
    null, { timeout: 30000 });
  await page.evaluate(() => {
    window.__rx = [];
    window.ooblexDemo.client.on('frame', ({ receivedAt, latencyMs }) => window.__rx.push([receivedAt, latencyMs]));
  });
  return page;
}

// Processed fps and latency percentiles of the frames a page receives over ms.
async function measure(page, ms) {
  const t0 = await page.evaluate(() => Date.now());
  await sleep(ms);
  const rx = await page.evaluate((from) => window.__rx.filter(([t]) => t >= from), t0);
  const lat = rx.map(([, l]) => l).filter((l) => l !== null).sort((a, b) => a - b);
  const q = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null;
  return { frames: rx.length, fps: rx.length / (ms / 1000), p50: q(0.5), p95: q(0.95) };
}

// What the page's browser sends (getStats): every figure here assumes it
// sends the camera's 30 fps / FRAME_SKIP; when it sends less (a CPU-limited
// encoder), the log says so and why.
async function sender(page) {
  return page.evaluate(async () => {
    const pc = window.ooblexDemo.client.handle.webrtcStuff.pc;
    const r = {};
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video')
        Object.assign(r, { fps: s.framesPerSecond || 0, width: s.frameWidth || 0, limited: s.qualityLimitationReason,
          limitedMs: s.qualityLimitationDurations });
      if (s.type === 'media-source' && s.kind === 'video') r.sourceFps = s.framesPerSecond || 0;
    });
    return r;
  }).catch((e) => ({ error: String(e) }));
}

const fmt = (m) => `${m.fps.toFixed(1)} fps, p50 ${m.p50 === null ? '-' : m.p50.toFixed(0)} ms, p95 ${m.p95 === null ? '-' : m.p95.toFixed(0)} ms`;

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = await servePage(PAGE_PORT);
  const browser = await launchBrowser(path.resolve(arg('video', '/tmp/ooblex-e2e-640x480.y4m')));
  const summary = { budget_ms: BUDGET_MS };
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const fast = await open(context, FAST);
    await fast.waitForFunction(() => window.__rx.length >= 10, null, { timeout: 30000, polling: 200 }).catch(() => {});
    await sleep(2000);
    const alone = await measure(fast, MEASURE_MS);
    summary.fast_alone = alone;
    summary.fast_sender = await sender(fast);
    T.log(`fast client alone: ${fmt(alone)}; its browser sends ${JSON.stringify(summary.fast_sender)}`);

    const slow = await open(context, SLOW);
    await sleep(4000);	// its first results measure what its frames cost
    const noisy = await measure(fast, MEASURE_MS);
    summary.fast_with_neighbour = noisy;
    const slowSeen = await measure(slow, 1000);
    summary.slow_sender = await sender(slow);
    T.log(`fast client beside the slow one: ${fmt(noisy)}; the slow page's browser sends ${JSON.stringify(summary.slow_sender)}`);
    T.ok(alone.frames >= 20, 'the fast client alone gets its frames', fmt(alone));
    T.ok(noisy.fps >= 0.9 * alone.fps, 'the fast client keeps at least 90% of its processed fps beside a 500 ms neighbour',
      `alone ${fmt(alone)}`, `with the neighbour ${fmt(noisy)}`);
    T.ok(noisy.p95 !== null && noisy.p95 <= BUDGET_MS, `the fast client's p95 stays within ${BUDGET_MS} ms`, fmt(noisy));

    // Fair shares: its frames are delivered (no budget is passed at 500 ms
    // here: run.sh sets frame_budget_ms = 1000), but it may hold only the
    // workers the fast client does not need.
    let ss = await api.pageStats(slow);
    const fs_ = await api.pageStats(fast);
    summary.slow_fair_share = { fair: ss && ss.fair, deferred_fair_share: ss && ss.frames.deferred_fair_share, seen: slowSeen };
    summary.fast_fair = fs_ && fs_.fair;
    T.log(`slow client: ${JSON.stringify(summary.slow_fair_share)}; fast client: ${JSON.stringify(summary.fast_fair)}`);
    T.ok(ss && ss.fair.throttled && ss.fair.reason === 'fair_share' && ss.fair.max_in_flight === 2 &&
      ss.fair.frame_cost_ms > 400 && ss.frames.deferred_fair_share > 0,
      'the slow client is held to its fair share: two of the three workers, its frames measured at about 500 ms',
      JSON.stringify(summary.slow_fair_share));
    T.ok(slowSeen.frames > 0 || (ss && ss.frames.sent > 0), 'the slow client still gets its processed frames', fmt(slowSeen));
    T.ok(fs_ && !fs_.fair.throttled, 'the fast client is not throttled', JSON.stringify(fs_ && fs_.fair));
    let told = await slow.evaluate(() => ({ fair: window.ooblexDemo.fair || null,
      overlay: document.getElementById('fair').hidden ? '' : document.getElementById('fair').textContent }));
    T.ok(told.fair && told.fair.throttled && told.fair.reason === 'fair_share' && /fair share/.test(told.overlay),
      'the slow page is told (fair event) and shows it', JSON.stringify(told));

    // The per-frame budget: 1500 ms frames are over the 1000 ms budget.
    await slow.evaluate(() => window.ooblexDemo.client.configure({ effect: 'stall:ms=1500' }));
    await slow.waitForFunction(() => window.ooblexDemo.fair && window.ooblexDemo.fair.reason === 'over_budget', null,
      { timeout: 15000, polling: 200 }).catch(() => {});
    // Frames it queued before its first 1500 ms result told the plugin what
    // they cost are still with workers (docs/protocol.md, "Limits"): measure
    // once they are done.
    await sleep(3000);
    const overBudget = await measure(fast, 4000);
    summary.fast_with_over_budget_neighbour = overBudget;
    ss = await api.pageStats(slow);
    summary.slow_over_budget = { fair: ss && ss.fair, over_budget: ss && ss.frames.over_budget };
    T.log(`slow client over budget: ${JSON.stringify(summary.slow_over_budget)}; fast client meanwhile: ${fmt(overBudget)}`);
    T.ok(ss && ss.fair.reason === 'over_budget' && ss.fair.max_in_flight === 1 && ss.frames.over_budget > 0,
      'a client over the per-frame budget is counted and held to one frame in flight', JSON.stringify(summary.slow_over_budget));
    told = await slow.evaluate(() => ({ fair: window.ooblexDemo.fair || null,
      overlay: document.getElementById('fair').hidden ? '' : document.getElementById('fair').textContent }));
    T.ok(told.fair && told.fair.reason === 'over_budget' && /over the 1000 ms budget/.test(told.overlay),
      'the page is told it is over budget and shows it', JSON.stringify(told));
    T.ok(overBudget.p95 !== null && overBudget.p95 <= BUDGET_MS && overBudget.fps >= 0.9 * alone.fps,
      'the fast client is unaffected meanwhile', fmt(overBudget));
    await slow.evaluate(() => window.ooblexDemo.client.configure({ effect: 'stall:ms=500' }));
    await sleep(1500);

    // Admission: the fleet on frames_to_process:stall is asked for more than it has.
    const third = await context.newPage();
    await third.goto(`http://127.0.0.1:${PAGE_PORT}/index.html?autostart=1&frame_skip=3&effect=${encodeURIComponent(FAST)}` +
      `&server=${encodeURIComponent(JANUS_WS)}`, { waitUntil: 'load' });
    await third.waitForFunction(() => window.ooblexDemo && window.ooblexDemo.client && window.ooblexDemo.client.clientId,
      null, { timeout: 30000 }).catch(() => {});
    const adm = await third.evaluate(() => ({ admission: window.ooblexDemo.admission || null,
      status: document.getElementById('status').textContent }));
    summary.third_admission = adm;
    T.ok(adm.admission && adm.admission.result === 'degraded' && adm.admission.frameSkip > 3 &&
      /degraded start/.test(adm.status), 'a session started while the fleet is full starts degraded, and says so',
      JSON.stringify(adm));
    const ts = await api.pageStats(third);
    T.ok(ts && ts.frame_skip === (adm.admission && adm.admission.frameSkip), 'it runs at the frame_skip its response gave',
      JSON.stringify(ts && { frame_skip: ts.frame_skip }));

    if (METRICS) {
      await sleep(1500);
      const prom = fs.readdirSync(METRICS).filter((f) => f.startsWith('ooblex_plugin_')).map((f) => fs.readFileSync(path.join(METRICS, f), 'utf8')).join('');
      const m = prom.match(/^ooblex_frames_over_budget_total\{[^}]*budget="frame_budget"\} (\d+)/m);
      const d = prom.match(/^ooblex_frames_deferred_total\{[^}]*reason="fair_share"\} (\d+)/m);
      T.ok(m && Number(m[1]) > 0 && d && Number(d[1]) > 0, 'Prometheus counts frames over budget and deferred by fair share',
        m ? m[0] : 'no ooblex_frames_over_budget_total', d ? d[0] : 'no fair_share deferral series');
    }
    await fast.screenshot({ path: path.join(OUT, 'fast.png') });
    await slow.screenshot({ path: path.join(OUT, 'slow.png') });
    for (const p of [fast, slow, third]) await p.evaluate(() => window.ooblexDemo.client.stop()).catch(() => {});
    await sleep(1500);
  } catch (e) {
    T.ok(false, 'noisy test ran', String(e && e.stack || e));
  } finally {
    fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 2));
    await browser.close();
    server.close();
  }
  process.exit(T.failures ? 1 : 0);
}
main();
