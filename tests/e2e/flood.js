#!/usr/bin/env node
// A flood of large frames on the data channel: at FRAME_SKIP=1 the workers
// add heavy noise (an ffmpeg: effect), so every frame comes back as a JPEG
// of a hundred kilobytes or more, thirty times a second, more than the data
// channel carries. The plugin must drop whole
// frames (the newest wins) rather than queue without bound or send part of
// one: the page sees no stall, no partial or undecodable frame, and a
// data-channel leg (sent -> the page's handler) that stays bounded.
//   node flood.js --out DIR --video FILE
'use strict';
const fs = require('fs');
const path = require('path');
const { tapper, servePage, launchBrowser, janusApi } = require('./lib');

const argv = process.argv.slice(2);
const arg = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def; };
const OUT = path.resolve(arg('out', 'tests/out/e2e/flood'));
const PAGE_PORT = 18084;
const JANUS_WS = 'ws://127.0.0.1:18188/', JANUS_HTTP = 'http://127.0.0.1:18088/janus';
const api = janusApi({ admin: 'http://127.0.0.1:17088/admin', adminSecret: 'e2e', http: JANUS_HTTP });
const T = tapper('flood: ');
const pct = (xs, p) => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = await servePage(PAGE_PORT);
  const browser = await launchBrowser(path.resolve(arg('video')));
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${PAGE_PORT}/index.html?autostart=1&frame_skip=1&effect=${encodeURIComponent('ffmpeg:noise=alls=90:allf=t')}` +
      `&server=${encodeURIComponent(JANUS_WS)}&server=${encodeURIComponent(JANUS_HTTP)}`);
    await page.waitForFunction(() => window.ooblexDemo.client && window.ooblexDemo.client.clientId, null, { timeout: 20000 });
    await page.evaluate(() => {
      window.__flood = [];
      window.ooblexDemo.client.on('frame', ({ meta, jpeg, receivedAt, latencyMs }) =>
        window.__flood.push({ id: meta.frame_id, bytes: jpeg.length, t: receivedAt, latencyMs, w: meta.width,
          // Where the time went: in the server (first packet -> handed to the
          // data channel) and on the channel to the page's handler.
          serverMs: meta.t ? (meta.t.sent - meta.t.capture) / 1000 : null,
          channelMs: meta.t ? receivedAt - meta.t.sent / 1000 : null }));
    });
    await page.waitForTimeout(5000);
    const fast = await page.evaluate(() => window.__flood.length);
    const before = (await api.pageStats(page)).frames;
    // The slow page: 400 ms of work every 500 ms on its main thread.
    await page.evaluate(() => {
      window.__slowFrom = window.__flood.length;
      window.__busy = setInterval(() => { const t = performance.now(); while (performance.now() - t < 400); }, 500);
    });
    await page.waitForTimeout(6000);
    await page.evaluate(() => clearInterval(window.__busy));
    const frames = await page.evaluate(() => window.__flood);
    const slowFrom = await page.evaluate(() => window.__slowFrom);
    const client = await page.evaluate(() => ({ malformed: window.ooblexDemo.client.assembler.malformed,
      abandoned: window.ooblexDemo.client.assembler.abandoned,
      stats: window.ooblexDemo.client.stats, errors: window.ooblexDemo.errors }));
    const ps = await api.pageStats(page);
    await page.evaluate(() => window.ooblexDemo.client.stop());

    let gap = 0, bad = 0;
    for (let i = 1; i < frames.length; i++) {
      gap = Math.max(gap, frames[i].t - frames[i - 1].t);
      if (frames[i].id <= frames[i - 1].id) bad++;
    }
    // The first second warms up (decoders, the first acks).
    const fastFrames = frames.slice(Math.min(30, fast), fast), slowFrames = frames.slice(slowFrom);
    const split = (fs, key) => { const xs = fs.map((f) => f[key]).filter((x) => x !== null); return { p50: pct(xs, 0.5), p95: pct(xs, 0.95) }; };
    const kb = frames.length ? frames.reduce((a, f) => a + f.bytes, 0) / frames.length / 1024 : 0;
    const summary = { frames: frames.length, width: frames.length ? frames[frames.length - 1].w : null, avgKiB: Math.round(kb),
      longestGapMs: gap, fastLatencyMs: split(fastFrames, 'latencyMs'), latencyMs: split(slowFrames, 'latencyMs'),
      fastServerMs: split(fastFrames, 'serverMs'), fastChannelMs: split(fastFrames, 'channelMs'),
      slowServerMs: split(slowFrames, 'serverMs'), slowChannelMs: split(slowFrames, 'channelMs'),
      slowChannelThirds: { first: split(slowFrames.slice(0, Math.floor(slowFrames.length / 3)), 'channelMs').p50,
        last: split(slowFrames.slice(slowFrames.length - Math.floor(slowFrames.length / 3)), 'channelMs').p50 },
      plugin: ps.frames, reorder: ps.reorder, latency: ps.latency,
      droppedWhileSlow: ps.frames.dropped_backpressure - before.dropped_backpressure };
    fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 2));
    T.log(`${frames.length} frames of ~${Math.round(kb)} KiB (${summary.width} wide) in 11 s; longest gap ${gap} ms; ` +
      `latency p50/p95 ${JSON.stringify(summary.fastLatencyMs)} ms with a fast page, ${JSON.stringify(summary.latencyMs)} ms ` +
      `with a slow one; plugin: sent ${ps.frames.sent}, dropped by backpressure ${ps.frames.dropped_backpressure}`);
    T.log(`where the time went (p50/p95 ms): fast page: server ${JSON.stringify(summary.fastServerMs)}, channel ` +
      `${JSON.stringify(summary.fastChannelMs)}; slow page: server ${JSON.stringify(summary.slowServerMs)}, channel ` +
      `${JSON.stringify(summary.slowChannelMs)}; latency budget ${JSON.stringify(ps.latency)}`);
    T.ok(frames.length >= 30 && kb > 80, 'large frames keep arriving', `${frames.length} frames of ${Math.round(kb)} KiB`);
    T.ok(gap < 1000, 'no stall: never a second without a frame, even on the slow page', `longest gap ${gap} ms`);
    T.ok(client.malformed === 0 && client.abandoned === 0 && client.stats.decodeErrors === 0,
      'no partial or undecodable frame reaches the page',
      JSON.stringify({ malformed: client.malformed, abandoned: client.abandoned, decodeErrors: client.stats.decodeErrors }));
    T.ok(bad === 0, 'in order');
    // What backpressure bounds is the data channel's leg (handed to the
    // channel -> the page's handler): the page's 400 ms stalls and a few
    // frames in flight, never a queue that grows. The server's leg is the
    // machine's load, the latency budget's to hold (latency.js, the overload
    // benchmark): a loaded CI machine once took it to p95 821 ms here with a
    // fast page, which says nothing of the channel. The channel leg's size is
    // the machine's too: the in-flight window holds frames, and ~184 KiB
    // frames through Janus' SCTP/DTLS took the *fast* page's leg to p95
    // 17-883 ms in seven runs of the same code on one slow day (the slow
    // page's 380-1251 ms). So what is checked is the property itself: over
    // the 6 s of stalls the leg does not grow (the median over the last
    // third of the slow frames within 1 s of the first third's: -269 to
    // +355 ms in the four of them that logged it, where a queue that grows
    // by most of the 30 fps sent would gain seconds), and its p95 stays
    // under 3 s.
    T.ok(summary.slowChannelMs.p95 !== null && summary.slowChannelThirds.last !== null &&
      summary.slowChannelThirds.last < summary.slowChannelThirds.first + 1000 && summary.slowChannelMs.p95 < 3000,
      'a slow page: the data channel leg stays bounded (no queue growing without end)',
      JSON.stringify({ channel: summary.slowChannelMs, thirds: summary.slowChannelThirds, server: summary.slowServerMs,
        total: summary.latencyMs }));
    T.ok(summary.droppedWhileSlow > 0, 'a slow page: whole frames are dropped (the newest wins) and counted',
      JSON.stringify(ps.frames));
    T.ok(client.errors.length === 0, 'the client reports no errors', ...client.errors);
  } finally {
    await browser.close();
    server.close();
  }
  process.exit(T.failures ? 1 : 0);
}
main().catch((e) => { console.log('not ok - flood: ' + (e && e.stack || e)); process.exit(1); });
