#!/usr/bin/env node
// Source-side sampling (docs/api.md): the browser sends only what will be
// processed, and the plugin processes every frame it receives.
//
// One real Chromium page (fake camera, 640x480 at 30 fps) runs the client
// module against the real Janus and plugin. Checks, from the browser's own
// getStats() (outbound-rtp frames sent and frameWidth, against the camera's
// rate from its track settings; media-source counts only the frames the
// sender kept) and the plugin's stats (frames assembled, decoded,
// sampled): at FRAME_SKIP=3 with max 320x240 the browser sends a third of
// the camera's frames at 320x240, and the plugin decodes what it receives and
// takes every decoded frame; a configure to FRAME_SKIP=2 and an ICE restart
// re-apply it; configure({fullRate: true}) sends every frame at full size,
// and the plugin's own sampler takes every 2nd. Then the cost: Janus' CPU
// (/proc/<pid>/stat, all threads) and the plugin's decode time per session
// over the same window, full-rate against source-sampled at FRAME_SKIP=3
// (640x480 both, then source-sampled at 320x240), one after the other in the same run (a figure in summary.json, never a
// pass/fail on speed).
//   node sampling.js --out DIR --janus-pid N [--video Y4M]
'use strict';
const fs = require('fs');
const path = require('path');
const { tapper, servePage, launchBrowser, janusApi } = require('./lib');

const argv = process.argv.slice(2);
const arg = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def; };
const OUT = path.resolve(arg('out', 'tests/out/e2e/sampling'));
const PAGE_PORT = Number(arg('page-port', 18083));
const JANUS_WS = arg('janus-ws', 'ws://127.0.0.1:18188/');
const JANUS_PID = Number(arg('janus-pid', 0));
const CPU_SECONDS = Number(arg('cpu-seconds', 8));
const api = janusApi({ admin: 'http://127.0.0.1:17088/admin', adminSecret: 'e2e', http: 'http://127.0.0.1:18088/janus' });
const T = tapper('sampling: ');
const tap = T.ok, log = T.log;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// In the page: one client, the frames it gets back.
async function startClient(opts) {
  await new Promise((r) => Janus.init({ debug: false, callback: r }));
  const client = new Ooblex.Client(Object.assign({ server: [opts.ws], effect: 'invert' }, opts.client));
  window.__client = client;
  window.__got = { frames: 0, maxWidth: 0, errors: [] };
  client.on('frame', ({ bitmap }) => {
    window.__got.frames++;
    window.__got.maxWidth = Math.max(window.__got.maxWidth, bitmap.width);
    bitmap.close();
  });
  client.on('error', (e) => window.__got.errors.push(e.message));
  await client.start();
  return client.clientId;
}

// In the page: the video sender's counters (outbound-rtp, media-source).
async function senderStats() {
  const pc = window.__client.handle.webrtcStuff.pc;
  const r = { sent: 0, encoded: 0, source: 0, width: 0, height: 0, fps: 0, sourceFps: 0 };
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      r.sent = s.framesSent || 0; r.encoded = s.framesEncoded || 0;
      r.width = s.frameWidth || 0; r.height = s.frameHeight || 0; r.fps = s.framesPerSecond || 0;
    }
    if (s.type === 'media-source' && s.kind === 'video') { r.source = s.frames || 0; r.sourceFps = s.framesPerSecond || 0; }
  });
  r.params = window.__client.sendingParameters();
  const enc = pc.getSenders().find((x) => x.track && x.track.kind === 'video').getParameters().encodings[0];
  r.maxFramerate = enc.maxFramerate || null;
  r.scale = enc.scaleResolutionDownBy || 1;
  return r;
}

function cpuTicks(pid) {
  // utime + stime of the whole process (all threads), in clock ticks.
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}
const TICKS_PER_S = 100;  // Linux USER_HZ

async function pluginFrames(page) {
  const ps = await api.pageStatsOf(page);
  const fr = (ps && ps.frames) || {};
  const decodeMs = ((ps && ps.latency_ms && ps.latency_ms.decoder_avg) || 0) * (fr.decoded || 0);
  return { assembled: fr.assembled || 0, decoded: fr.decoded || 0, sampled: fr.sampled || 0,
    deferred: fr.deferred_in_flight || 0, packets: fr.packets_received || 0, decodeMs,
    sourceSampled: ps && ps.source_sampled, frameSkip: ps && ps.frame_skip };
}

// A window of `seconds`: what the browser sent, what the plugin did, Janus' CPU.
async function measure(page, seconds) {
  const b0 = await page.evaluate(senderStats), p0 = await pluginFrames(page);
  const c0 = JANUS_PID ? cpuTicks(JANUS_PID) : 0, t0 = Date.now();
  await sleep(seconds * 1000);
  const b1 = await page.evaluate(senderStats), p1 = await pluginFrames(page);
  const c1 = JANUS_PID ? cpuTicks(JANUS_PID) : 0, dt = (Date.now() - t0) / 1000;
  const d = (k, a, b) => b[k] - a[k];
  return {
    seconds: +dt.toFixed(2),
    browser: { sourceFps: +(d('source', b0, b1) / dt).toFixed(1), sentFps: +(d('sent', b0, b1) / dt).toFixed(1),
      width: b1.width, height: b1.height, maxFramerate: b1.maxFramerate, scale: b1.scale,
      cameraFps: b1.params && b1.params.cameraFps },
    plugin: { receivedFps: +(d('assembled', p0, p1) / dt).toFixed(1), decodedFps: +(d('decoded', p0, p1) / dt).toFixed(1),
      sampledFps: +(d('sampled', p0, p1) / dt).toFixed(1), deferredFps: +(d('deferred', p0, p1) / dt).toFixed(1),
      packetsPerS: +(d('packets', p0, p1) / dt).toFixed(0), decodeMsPerS: +(d('decodeMs', p0, p1) / dt).toFixed(2),
      sourceSampled: p1.sourceSampled, frameSkip: p1.frameSkip },
    janusCpuPct: JANUS_PID ? +((c1 - c0) / TICKS_PER_S / dt * 100).toFixed(1) : null,
  };
}

const near = (x, want, tol) => Math.abs(x - want) <= tol * want;

async function openClient(browser, client) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`http://127.0.0.1:${PAGE_PORT}/index.html`, { waitUntil: 'load' });
  const id = await page.evaluate(startClient, { ws: JANUS_WS, client }).catch((e) => 'error: ' + e.message);
  return { page, id };
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  api.pageStatsOf = async (page) => {
    const ids = await page.evaluate(() => ({ s: window.__client.janus.getSessionId(), h: window.__client.handle.getId() }));
    const info = await api.admin({ janus: 'handle_info' }, ids.s, ids.h);
    return info && info.info && info.info.plugin_specific;
  };
  const server = await servePage(PAGE_PORT);
  const browser = await launchBrowser(path.resolve(arg('video', '/tmp/ooblex-e2e-640x480.y4m')));
  const summary = {};
  try {
    // 1. Source-sampled at FRAME_SKIP=3, at most 320x240.
    const { page, id } = await openClient(browser, { frameSkip: 3, maxWidth: 320, maxHeight: 240 });
    tap(/^[0-9a-f]{32}$/.test(id), 'a session starts with source-side sampling', String(id));
    if (!/^[0-9a-f]{32}$/.test(id)) return;
    const started = await page.evaluate(() => window.__client.sendingParameters());
    tap(started && started.sourceSampled && started.maxFramerate === started.cameraFps / 3 && started.scaleResolutionDownBy === 2,
      'the client asks its sender for camera fps / 3 and half size (640 -> 320)', JSON.stringify(started));
    await sleep(3000);  // the encoder settles on the new rate and size
    const s3 = await measure(page, 5);
    summary.sourceSampledSkip3 = s3;
    log('source-sampled, FRAME_SKIP=3, max 320x240: ' + JSON.stringify(s3));
    const check = (m, skip, label) => {
      tap(near(m.browser.sentFps, m.browser.cameraFps / skip, 0.3),
        `${label}: the browser sends camera fps / ${skip} (getStats outbound-rtp)`,
        `sent ${m.browser.sentFps} fps, camera ${m.browser.cameraFps} fps`);
      tap(near(m.plugin.decodedFps, m.browser.sentFps, 0.2) && m.plugin.decodedFps <= m.plugin.receivedFps + 0.5,
        `${label}: the plugin decodes what it receives, no more`, JSON.stringify(m.plugin), `browser sent ${m.browser.sentFps} fps`);
      tap(m.plugin.sourceSampled === true && m.plugin.sampledFps + m.plugin.deferredFps >= 0.95 * m.plugin.decodedFps,
        `${label}: the sampler takes every frame it receives (no second FRAME_SKIP)`, JSON.stringify(m.plugin));
    };
    check(s3, 3, 'FRAME_SKIP=3');
    // At most the max size: Chromium's own CPU adaptation may send less.
    tap(s3.browser.width > 0 && s3.browser.width <= 320 && s3.browser.height <= 240,
      'FRAME_SKIP=3: the browser sends at most 320x240 (getStats frameWidth/frameHeight)', `${s3.browser.width}x${s3.browser.height}`);
    const got = await page.evaluate(() => window.__got);
    tap(got.frames > 10 && got.maxWidth <= 320, 'processed frames come back, no larger than the max size', JSON.stringify(got));

    // 2. configure FRAME_SKIP=2: the sender follows the answer.
    await page.evaluate(() => new Promise((r) => { window.__client.on('configured', r); window.__client.configure({ frameSkip: 2 }); }));
    await sleep(3000);
    const s2 = await measure(page, 5);
    summary.sourceSampledSkip2 = s2;
    log('after configure FRAME_SKIP=2: ' + JSON.stringify(s2));
    check(s2, 2, 'configure FRAME_SKIP=2');

    // 3. An ICE restart (a renegotiation) keeps it.
    const restarted = await page.evaluate(() => window.__client.restartIce().then(() => true, (e) => e.message));
    await sleep(3000);
    const sr = await measure(page, 4);
    summary.afterIceRestart = sr;
    tap(restarted === true && sr.browser.maxFramerate === sr.browser.cameraFps / 2 && near(sr.browser.sentFps, sr.browser.cameraFps / 2, 0.3),
      'after an ICE restart the browser still sends camera fps / 2', JSON.stringify({ restarted, browser: sr.browser }));

    // 4. Full rate: every camera frame, full size; the plugin's own sampler takes every 2nd.
    await page.evaluate(() => new Promise((r) => { window.__client.on('configured', r); window.__client.configure({ fullRate: true }); }));
    await sleep(3000);
    const sf = await measure(page, 5);
    summary.fullRateSkip2 = sf;
    log('full rate, FRAME_SKIP=2: ' + JSON.stringify(sf));
    tap(near(sf.browser.sentFps, sf.browser.cameraFps, 0.2) && sf.browser.maxFramerate === null && sf.browser.scale === 1 &&
      sf.browser.width > s3.browser.width, 'fullRate: the browser sends every camera frame, unscaled', JSON.stringify(sf.browser));
    tap(sf.plugin.sourceSampled === false && near(sf.plugin.sampledFps + sf.plugin.deferredFps, sf.plugin.decodedFps / 2, 0.2),
      'fullRate: the plugin decodes every frame and its sampler takes every 2nd', JSON.stringify(sf.plugin));
    const errs = await page.evaluate(() => window.__got.errors);
    tap(errs.length === 0, 'no client errors', ...errs);
    await page.evaluate(() => window.__client.stop());
    await page.close();

    // 5. The cost per session, FRAME_SKIP=3 at 640x480 both ways (only the
    // frame rate differs), one session at a time, same run.
    const cost = {};
    for (const [label, client] of [['fullRate', { frameSkip: 3, fullRate: true }], ['sourceSampled', { frameSkip: 3 }],
      ['sourceSampled320', { frameSkip: 3, maxWidth: 320, maxHeight: 240 }]]) {
      const c = await openClient(browser, client);
      if (!/^[0-9a-f]{32}$/.test(c.id)) { tap(false, `cost: ${label} session starts`, String(c.id)); continue; }
      await sleep(3000);
      cost[label] = await measure(c.page, CPU_SECONDS);
      await c.page.evaluate(() => window.__client.stop());
      await c.page.close();
      await sleep(1000);
    }
    if (cost.fullRate && cost.sourceSampled) {
      const f = cost.fullRate, s = cost.sourceSampled;
      const q = cost.sourceSampled320;
      summary.costPerSessionSkip3 = {
        fullRate: f, sourceSampled: s, sourceSampled320: q,
        saved: { janusCpuPct: f.janusCpuPct !== null ? +(f.janusCpuPct - s.janusCpuPct).toFixed(1) : null,
          decodeMsPerS: +(f.plugin.decodeMsPerS - s.plugin.decodeMsPerS).toFixed(2),
          decodedFps: +(f.plugin.decodedFps - s.plugin.decodedFps).toFixed(1),
          packetsPerS: f.plugin.packetsPerS - s.plugin.packetsPerS },
      };
      log('cost per session at FRAME_SKIP=3 (640x480, ' + CPU_SECONDS + ' s each): Janus CPU ' +
        `${f.janusCpuPct}% full rate vs ${s.janusCpuPct}% source-sampled; plugin decode ${f.plugin.decodeMsPerS} vs ` +
        `${s.plugin.decodeMsPerS} ms/s; decoded ${f.plugin.decodedFps} vs ${s.plugin.decodedFps} fps; RTP packets ` +
        `${f.plugin.packetsPerS} vs ${s.plugin.packetsPerS} /s` +
        (q ? `; source-sampled at 320x240: Janus CPU ${q.janusCpuPct}%, decode ${q.plugin.decodeMsPerS} ms/s, ${q.plugin.packetsPerS} packets/s` : ''));
      tap(s.plugin.decodedFps < f.plugin.decodedFps, 'cost: a source-sampled session decodes fewer frames than a full-rate one',
        JSON.stringify(summary.costPerSessionSkip3.saved));
    }
  } finally {
    fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 2));
    await browser.close();
    server.close();
  }
}
main().then(() => process.exit(T.failures ? 1 : 0),
  (e) => { console.log('not ok - sampling: ' + (e && e.stack || e)); process.exit(1); });
