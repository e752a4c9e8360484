#!/usr/bin/env node
// The latency budget (docs/api.md, "Latency budget"), end to end: one real
// Chromium page (fake camera, 640x480 at 30 fps, source-sampled as
// ooblex.js starts by default) against the real Janus, plugin and workers.
// A budget no machine meets (2 ms; run.sh lowers min_latency_budget_ms to 2) makes the plugin shed one step a second:
// checked, from the page's own events and its RTCRtpSender, that the page
// is told ('latency' events, in the stated order of steps), that the
// plugin's sender request over the data channel reaches the client module
// and changes the sender's maxFramerate at every frame-skip step (camera
// fps / the effective frame skip, down to / 10) and then its
// scaleResolutionDownBy (x2) at the resolution step, that the browser then sends
// at that rate (getStats outbound-rtp), and that the plugin's stats and the
// Admin API show the step; then configure({latencyBudgetMs: 0}) restores
// the sender to what source sampling asks.
// Prometheus (the plugin's textfile, --metrics) counts the steps.
//   node latency.js --out DIR [--video Y4M] [--metrics DIR]
'use strict';
const fs = require('fs');
const path = require('path');
const { tapper, servePage, launchBrowser, janusApi } = require('./lib');

const argv = process.argv.slice(2);
const arg = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def; };
const OUT = path.resolve(arg('out', 'tests/out/e2e/latency'));
const PAGE_PORT = Number(arg('page-port', 18084));
const JANUS_WS = arg('janus-ws', 'ws://127.0.0.1:18188/');
const METRICS = arg('metrics', null);
const api = janusApi({ admin: 'http://127.0.0.1:17088/admin', adminSecret: 'e2e', http: 'http://127.0.0.1:18088/janus' });
const T = tapper('latency: ');
const tap = T.ok, log = T.log;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startClient(opts) {
  await new Promise((r) => Janus.init({ debug: false, callback: r }));
  const client = new Ooblex.Client(Object.assign({ server: [opts.ws], effect: 'invert' }, opts.client));
  window.__client = client;
  window.__got = { frames: 0, latency: [], sender: [], errors: [] };
  client.on('frame', ({ bitmap }) => { window.__got.frames++; bitmap.close(); });
  client.on('latency', (l) => window.__got.latency.push(l));
  client.on('sender', (s) => window.__got.sender.push(s));
  client.on('error', (e) => window.__got.errors.push(e.message));
  await client.start();
  return client.clientId;
}

async function senderNow() {
  const pc = window.__client.handle.webrtcStuff.pc;
  const sender = pc.getSenders().find((x) => x.track && x.track.kind === 'video');
  const enc = sender.getParameters().encodings[0];
  let sent = 0;
  (await pc.getStats()).forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'video') sent = s.framesSent || 0; });
  return { maxFramerate: enc.maxFramerate || null, scale: enc.scaleResolutionDownBy || 1, sent, at: Date.now(),
    params: window.__client.sendingParameters() };
}

async function waitFor(page, fn, arg, ms) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v || Date.now() > until) return v;
    await sleep(250);
  }
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = await servePage(PAGE_PORT);
  const browser = await launchBrowser(path.resolve(arg('video', '/tmp/ooblex-e2e-640x480.y4m')));
  const summary = {};
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`http://127.0.0.1:${PAGE_PORT}/index.html`, { waitUntil: 'load' });
    const id = await page.evaluate(startClient, { ws: JANUS_WS, client: { frameSkip: 1, latencyBudgetMs: 2 } })
      .catch((e) => 'error: ' + e.message);
    tap(/^[0-9a-f]{32}$/.test(id), 'a session starts with latency_budget_ms 2', String(id));
    if (!/^[0-9a-f]{32}$/.test(id)) return;
    const before = await page.evaluate(senderNow);
    tap(before.maxFramerate === before.params.cameraFps, 'at first the sender sends the camera rate (FRAME_SKIP=1)', JSON.stringify(before));

    // The page is told of the first step.
    const first = await waitFor(page, () => window.__got.latency[0] || null, null, 8000);
    tap(first && first.action === 'shed' && first.step === 'frame_skip' && first.frameSkipEffective > 1 && first.budgetMs === 2 &&
      first.shedding === true, "the page gets a 'latency' event: shed, step frame_skip, a higher effective frame skip",
      JSON.stringify(first));

    // A source-sampled sender follows the effective frame skip from the first
    // frame-skip step on: the sender request of that step asks for it.
    const firstSender = await waitFor(page, () => window.__got.sender[0] || null, null, 8000);
    tap(firstSender && first && firstSender.step === 'frame_skip' && firstSender.frameSkip === first.frameSkipEffective &&
      Math.abs(firstSender.maxFramerate - before.params.cameraFps / first.frameSkipEffective) < 1e-6,
      "at the first frame-skip step the sender is asked (data channel) for that frame skip: maxFramerate = camera fps / it",
      JSON.stringify({ firstSender, first }));
    // Up to every 10th frame. (Far over its budget the plugin takes two or
    // three steps at once: the last frame-skip step may come with REMB or
    // the resolution step.)
    const fr = await waitFor(page, () => window.__got.sender.find((s) => s.frameSkip === 10) || null, null, 20000);
    const atFr = await page.evaluate(senderNow);
    tap(fr && ['frame_skip', 'remb', 'resolution'].includes(fr.step) && atFr.params.latencyFrameSkip >= 10,
      "the plugin's sender request (data channel) reaches the client module: send every 10th frame", JSON.stringify(fr));
    tap(fr && Math.abs(fr.maxFramerate - atFr.params.cameraFps / 10) < 1e-6,
      'the sender request changes maxFramerate to camera fps / 10 (RTCRtpSender.setParameters)', JSON.stringify(fr));
    const steps = await page.evaluate(() => window.__got.latency.map((l) => l.step));
    const order = ['frame_skip', 'remb', 'resolution'];
    const seen = [...new Set(steps)];
    tap(seen[0] === 'frame_skip' && seen.every((s, i) => i === 0 || order.indexOf(s) > order.indexOf(seen[i - 1])),
      'the steps come in the stated order: frame_skip, remb, resolution', JSON.stringify(steps));

    // The resolution step, then the browser's own counters.
    const res = await waitFor(page, () => window.__got.sender.find((s) => s.scaleResolutionDownBy === 2) || null, null, 8000);
    const atRes = await page.evaluate(senderNow);
    tap(res && atRes.scale === 2 && atRes.maxFramerate === atRes.params.cameraFps / 10,
      'then scaleResolutionDownBy 2, maxFramerate kept', JSON.stringify({ res, scale: atRes.scale, max: atRes.maxFramerate }));
    await sleep(2000);
    const s0 = await page.evaluate(senderNow);
    await sleep(4000);
    const s1 = await page.evaluate(senderNow);
    const sentFps = (s1.sent - s0.sent) / ((s1.at - s0.at) / 1000);
    summary.shedSentFps = sentFps;
    tap(sentFps <= s1.params.cameraFps / 10 * 1.5 + 0.5, 'the browser sends at most about camera fps / 10 (getStats outbound-rtp)',
      `${sentFps.toFixed(1)} fps`);

    // The plugin's own view: stats and the Admin API.
    const ids = await page.evaluate(() => ({ s: window.__client.janus.getSessionId(), h: window.__client.handle.getId() }));
    const info = await api.admin({ janus: 'handle_info' }, ids.s, ids.h);
    const lat = info && info.info && info.info.plugin_specific && info.info.plugin_specific.latency;
    summary.sessionLatency = lat;
    tap(lat && lat.budget_ms === 2 && lat.step === 'resolution' && lat.frame_skip_effective === 10 && lat.shedding === true &&
      lat.sender.frame_skip === 10 && lat.sender.scale_resolution_down_by === 2 && lat.p95_ms > 1,
      "the session's stats show the step (latency: budget, p95, step, effective frame_skip, sender)", JSON.stringify(lat));
    const g = await api.admin({ janus: 'message_plugin', plugin: 'janus.plugin.ooblex', request: { request: 'stats' } });
    const gl = g && g.response && g.response.latency;
    summary.adminLatency = gl;
    tap(gl && gl.level === 7 && gl.step === 'resolution' && gl.frame_skip_common === 10 && gl.sessions_shedding >= 1 &&
      gl.steps.frame_skip.shed >= 1 && gl.steps.remb.shed >= 1 && gl.steps.framerate === undefined && gl.steps.resolution.shed >= 1,
      "the Admin API's stats show the machine's level and its steps", JSON.stringify(gl));
    if (METRICS) {
      await sleep(1500);  // written once a second
      const prom = fs.readdirSync(METRICS).filter((f) => f.startsWith('ooblex_plugin_'))
        .map((f) => fs.readFileSync(path.join(METRICS, f), 'utf8')).join('');
      const val = (re) => { const m = prom.match(re); return m ? Number(m[1]) : null; };
      const shedFs = val(/ooblex_latency_steps_total\{[^}]*step="frame_skip",direction="shed"\} (\d+)/);
      const shedRes = val(/ooblex_latency_steps_total\{[^}]*step="resolution",direction="shed"\} (\d+)/);
      const shedding = val(/ooblex_latency_shedding_sessions\{[^}]*\} (\d+)/);
      const level = val(/ooblex_latency_level\{[^}]*\} (\d+)/);
      summary.prometheus = { shedFs, shedRes, shedding, level };
      tap(shedFs >= 1 && shedRes >= 1 && shedding >= 1 && level === 7,
        'Prometheus: ooblex_latency_steps_total{step,direction}, ooblex_latency_shedding_sessions, ooblex_latency_level',
        JSON.stringify(summary.prometheus));
    }
    const frames = await page.evaluate(() => window.__got.frames);
    tap(frames > 5, 'processed frames keep coming while shedding', `${frames} frames`);

    // Off: everything asked of the browser is lifted.
    const nBefore = await page.evaluate(() => window.__got.sender.length);
    await page.evaluate(() => new Promise((r) => { window.__client.on('configured', r); window.__client.configure({ latencyBudgetMs: 0 }); }));
    const back = await waitFor(page, (k) => window.__got.sender.slice(k).find((s) => s.frameSkip === 1 && s.scaleResolutionDownBy === 1) || null,
      nBefore, 5000);
    const after = await page.evaluate(senderNow);
    tap(back && after.maxFramerate === after.params.cameraFps && after.scale === 1,
      'configure({latencyBudgetMs: 0}): the sender is back at the camera rate and full size', JSON.stringify({ back, after }));
    const dcRequests = await page.evaluate(() => window.__client.stats.senderRequests || 0);
    tap(dcRequests >= 2, 'the sender requests came over the data channel ({"ooblex":"sender",...} text messages)',
      `${dcRequests} received`);
    const off = await page.evaluate(() => window.__got.latency[window.__got.latency.length - 1]);
    tap(off && off.action === 'restore' && off.shedding === false && off.budgetMs === 0,
      "the page is told the budget is off: 'latency' restore, not shedding", JSON.stringify(off));
    const errs = await page.evaluate(() => window.__got.errors);
    tap(errs.length === 0, 'no client errors', ...errs);
    summary.events = await page.evaluate(() => window.__got);
    await page.evaluate(() => window.__client.stop());
    await page.close();
  } finally {
    fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 2));
    await browser.close();
    server.close();
  }
}
main().then(() => process.exit(T.failures ? 1 : 0),
  (e) => { console.log('not ok - latency: ' + (e && e.stack || e)); process.exit(1); });
