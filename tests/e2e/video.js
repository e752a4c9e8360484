#!/usr/bin/env node
// The return path as a real video track, and glass-to-glass latency.
//
// The demo page streams the time-stamped test pattern (html/js/testpattern.js)
// with output=both: processed frames come back over the data channel AND as
// the session's outgoing video track, re-encoded by the plugin. The browser
// decodes that track; the page reads the stamp and the colour patches back
// from both outputs. Checks: the track plays, its pixels are the inverted
// pattern, frames come in order, glass-to-glass latency per output, RTP
// packets within 1200 bytes, keyframes; then output=video alone, and a
// switch of output mid-session. Echotest, Janus' own plugin, relays the same
// pattern untouched: the floor the processed video is compared with, run at
// the same time as each processed session (same load), every path timed at
// the same point (G2G_POINT).
//   node video.js --out DIR [--codec vp8|h264] [--page-port N]
'use strict';
const fs = require('fs');
const path = require('path');
const { tapper, servePage, launchBrowser, janusApi } = require('./lib');

const argv = process.argv.slice(2);
const arg = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def; };
const OUT = path.resolve(arg('out', 'tests/out/e2e/video'));
const CODEC = arg('codec', 'vp8');
const PAGE_PORT = Number(arg('page-port', 18082));
const JANUS_WS = arg('janus-ws', 'ws://127.0.0.1:18188/');
const JANUS_HTTP = arg('janus-http', 'http://127.0.0.1:18088/janus');
const api = janusApi({ admin: arg('admin', 'http://127.0.0.1:17088/admin'), adminSecret: arg('admin-secret', 'e2e'), http: JANUS_HTTP });
const T = tapper('video ' + CODEC + ': ');
const tap = T.ok, log = T.log;

const G2G_POINT = 'decoded: the frame\'s pixels are readable by the page (video tracks: VideoFrame from a ' +
  'MediaStreamTrackProcessor; data channel: JPEG decoded by createImageBitmap), painting excluded on every path';
// In the page: the mean time a received video frame spent in Chromium's
// jitter buffer (inbound-rtp), ms: part of every video track's figure, none
// of the data channel's (its JPEGs have no jitter buffer in the page).
async function jitterBufferMs(pcPath) {
  const pc = pcPath === 'echo' ? window.__echoPc : window.ooblexDemo.client.handle.webrtcStuff.pc;
  let ms = null;
  if (pc) (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video' && r.jitterBufferEmittedCount) ms = +(1000 * r.jitterBufferDelay / r.jitterBufferEmittedCount).toFixed(1);
  });
  return ms;
}
const pct = (xs, p) => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

// In the page: the mean colour of each test-pattern patch in the latest
// picture of one output, scaled to 640 wide.
function patchColours(which) {
  const src = which === 'echo' ? window.__echoVideo :
    which === 'video' ? document.getElementById('processed-video') : document.getElementById('processed');
  const isVideo = which !== 'datachannel';
  if (!src) return null;
  const w = isVideo ? src.videoWidth : src.width, h = isVideo ? src.videoHeight : src.height;
  if (!w || !h) return null;
  const c = document.createElement('canvas');
  c.width = 640; c.height = 480;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(src, 0, 0, 640, 480);
  return OoblexTestPattern.patches.map(([x, y, pw, ph]) => {
    const d = g.getImageData(x + 20, y + 20, pw - 40, ph - 40).data;
    let r = 0, gg = 0, b = 0;
    for (let i = 0; i < d.length; i += 4) { r += d[i]; gg += d[i + 1]; b += d[i + 2]; }
    const n = d.length / 4;
    return [r / n, gg / n, b / n];
  });
}

async function run(browser, output, label) {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  const url = `http://127.0.0.1:${PAGE_PORT}/index.html?autostart=1&source=pattern&effect=invert&frame_skip=1` +
    `&output=${output}&codec=${CODEC}&server=${encodeURIComponent(JANUS_WS)}&server=${encodeURIComponent(JANUS_HTTP)}`;
  await page.goto(url, { waitUntil: 'load' });
  const started = await page.waitForFunction(() => window.ooblexDemo.client && window.ooblexDemo.client.clientId, null,
    { timeout: 20000 }).then((h) => h.jsonValue()).catch(() => null);
  tap(!!started, `${label}: the session starts with output=${output}`,
    JSON.stringify(await page.evaluate(() => window.ooblexDemo.errors)));
  if (!started) return { page };
  const want = (k) => page.waitForFunction((kk) => window.ooblexDemo.g2g[kk].length >= 60, k, { timeout: 30000, polling: 200 }).catch(() => {});
  if (output !== 'datachannel') await want('video');
  if (output !== 'video') await want('datachannel');
  await page.waitForTimeout(4000);
  const ps = await api.pageStats(page);
  const jb = output === 'datachannel' ? null : await page.evaluate(jitterBufferMs, 'video').catch(() => null);
  const state = await page.evaluate(() => ({
    g2g: window.ooblexDemo.g2g, stamps: window.ooblexDemo.stamps, frames: window.ooblexDemo.frames,
    videoFrames: window.ooblexDemo.videoFrames, errors: window.ooblexDemo.errors, output: window.ooblexDemo.client.output,
  }));
  return { page, ps, state, jitterBufferMs: jb };
}

const lum = (c) => 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
const PATTERN = [[220, 40, 40], [40, 200, 60], [50, 70, 220], [230, 230, 230], [30, 30, 30], [200, 160, 40]];

// The data channel's JPEG shows the browser's own YCbCr, inverted by the
// worker (luma 251 - Y): each patch's luminance is the inverse of the
// pattern's. Within 25: Chromium's canvas capture is full-range YCbCr, and
// the workers' inversion is exact for video range, so saturated colours come
// back a little off (the video track, decoded like echotest's, is exact).
function checkDataChannelPatches(colours, label) {
  if (!colours) return tap(false, `${label}: pixels read back`, 'no picture');
  const errs = colours.map((c, i) => Math.abs(lum(c) - (251 - lum(PATTERN[i]))));
  const worst = Math.max(...errs);
  log(`${label}: patch luminance within ${worst.toFixed(1)} of the inverted pattern`);
  return tap(worst < 25, `${label}: the pixels are the inverted test pattern`,
    `worst ${worst.toFixed(1)}: ${JSON.stringify(colours.map((c) => c.map(Math.round)))}`);
}

// The video track goes through the browser's video decoder, as echotest's
// unprocessed copy of the same pattern does; both decode the same YCbCr the
// same way, so processed + unprocessed = 255 per patch (luma inverted).
function checkVideoPatches(colours, echo, label) {
  if (!colours || !echo) return tap(false, `${label}: pixels read back`, `processed ${!!colours}, echotest ${!!echo}`);
  const errs = colours.map((c, i) => Math.abs(lum(c) + lum(echo[i]) - 255));
  const worst = Math.max(...errs);
  log(`${label}: patch luminance + echotest's within ${worst.toFixed(1)} of 255`);
  return tap(worst < 20, `${label}: the pixels are the inverted test pattern (against echotest's copy)`,
    `worst ${worst.toFixed(1)}: processed ${JSON.stringify(colours.map((c) => c.map(Math.round)))} echotest ${JSON.stringify(echo.map((c) => c.map(Math.round)))}`);
}

function inOrder(stamps) {
  let bad = 0;
  for (let i = 1; i < stamps.length; i++) if (stamps[i] < stamps[i - 1]) bad++;
  return bad;
}

// Janus' echotest relays the same pattern back without any processing: the
// glass-to-glass floor of this browser, this Janus and this machine. Every
// path is timed at the same point, G2G_POINT.
async function echotestFloor(browser) {
  const page = await (await browser.newContext()).newPage();
  const lines = [];
  page.on('console', (m) => lines.push(m.type() + ': ' + m.text()));
  page.on('pageerror', (e) => lines.push('pageerror: ' + e.message));
  await page.goto(`http://127.0.0.1:${PAGE_PORT}/index.html`, { waitUntil: 'load' });
  const result = await page.evaluate(async ([ws, codec]) => {
    const pattern = new OoblexTestPattern({ width: 640, height: 480, fps: 30 });
    const g2g = [];
    await new Promise((resolve) => Janus.init({ debug: false, callback: resolve }));
    return new Promise((resolve) => {
      let handle = null, calls = 0, unreadable = 0;
      const done = (extra) => { pattern.stop(); resolve(Object.assign({ g2g, calls, unreadable }, extra)); };
      const janus = new Janus({
        server: ws,
        error: (e) => done({ error: String(e) }),
        success: () => janus.attach({
          plugin: 'janus.plugin.echotest',
          error: (e) => done({ error: String(e) }),
          success: (h) => {
            handle = h;
            h.createOffer({
              tracks: [{ type: 'video', capture: pattern.stream.getVideoTracks()[0], recv: true, codec }],
              success: (jsep) => h.send({ message: { audio: false, video: true, videocodec: codec }, jsep }),
              error: (e) => done({ error: String(e) }),
            });
          },
          onmessage: (msg, jsep) => { console.log('echotest: ' + JSON.stringify(msg) + (jsep ? ' +jsep' : '')); if (jsep) handle.handleRemoteJsep({ jsep }); },
          webrtcState: (up) => console.log('echotest: webrtc ' + up),
          onremotetrack: (track, mid, on) => {
            console.log('echotest: remote track ' + track.kind + ' ' + on);
            if (!on || track.kind !== 'video') return;
            const v = document.createElement('video');
            v.muted = true; v.playsInline = true; v.autoplay = true;
            v.srcObject = new MediaStream([track]);
            document.body.appendChild(v);
            window.__echoVideo = v;
            window.__echoPc = handle.webrtcStuff.pc;
            v.play().catch((e) => console.log('echotest: play failed ' + e));
            // Timed where the processed outputs are (html/js/testpattern.js):
            // when the decoded frame's pixels reach the page.
            const watch = OoblexTestPattern.watchTrack(track, (s, at) => {
              calls++;
              if (s !== null) g2g.push(at - s);
              else unreadable++;
              if (g2g.length >= 240) { watch.stop(); done({}); }
            });
            if (!watch) done({ error: 'no MediaStreamTrackProcessor in this browser' });
          },
        }),
      });
      setTimeout(() => done({ timeout: true }), 25000);
    });
  }, [JANUS_WS, CODEC]);
  result.patches = await page.evaluate(patchColours, 'echo');
  result.jitterBufferMs = await page.evaluate(jitterBufferMs, 'echo').catch(() => null);
  await page.close();
  if (!result.g2g || result.g2g.length < 60) result.console = lines.slice(-10);
  return result;
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = await servePage(PAGE_PORT);
  const browser = await launchBrowser(path.resolve(arg('video', '/tmp/ooblex-e2e-640x480.y4m')));
  const summary = { codec: CODEC, g2gPoint: G2G_POINT, measuredAt: new Date().toISOString() };
  try {
    // 1. The floor: echotest relays the pattern untouched, measured at the
    // same time as the processed session it is compared with (8 s of it), so
    // that both see the same load on this shared machine.
    const floorP = echotestFloor(browser);
    // 2. output=both
    const both = await run(browser, 'both', 'both');
    const floor = await floorP;
    summary.echoPatches = floor.patches;
    tap(floor.g2g && floor.g2g.length >= 60, 'echotest relays the same pattern (the floor)', JSON.stringify(Object.assign({}, floor, { g2g: (floor.g2g || []).length })));
    if (floor.g2g && floor.g2g.length) {
      summary.echotestG2gMs = { p50: pct(floor.g2g, 0.5), p95: pct(floor.g2g, 0.95), p99: pct(floor.g2g, 0.99) };
      summary.echotestJitterBufferMs = floor.jitterBufferMs;
      log('echotest floor (beside output=both): glass-to-glass ms ' + JSON.stringify(summary.echotestG2gMs));
    }
    if (both.state) {
      const { g2g, stamps } = both.state;
      tap(both.state.videoFrames >= 60 && g2g.video.length >= 60, 'both: the processed video track plays, stamps readable',
        `${both.state.videoFrames} video frames, ${g2g.video.length} stamped`);
      tap(both.state.frames >= 60 && g2g.datachannel.length >= 60, 'both: the data channel delivers too',
        `${both.state.frames} frames, ${g2g.datachannel.length} stamped`);
      checkVideoPatches(await both.page.evaluate(patchColours, 'video'), summary.echoPatches, 'both, video track');
      checkDataChannelPatches(await both.page.evaluate(patchColours, 'datachannel'), 'both, data channel');
      tap(inOrder(stamps.video) === 0 && inOrder(stamps.datachannel) === 0, 'both: frames arrive in capture order on both outputs',
        `video ${inOrder(stamps.video)} out of order, data channel ${inOrder(stamps.datachannel)}`);
      const vo = both.ps && both.ps.video_output;
      tap(vo && vo.frames_sent > 60 && vo.keyframes >= 1 && vo.max_packet > 0 && vo.max_packet <= 1200,
        'both: the plugin re-encodes and sends RTP packets of at most 1200 bytes', JSON.stringify(vo));
      // Chromium negotiates transport-cc and sends no REMB: the track's
      // rate follows its receiver reports (plugin/egress/send_rate.h).
      const sr = both.ps && both.ps.send_rate;
      log('both: the track\'s send rate ' + JSON.stringify(sr));
      tap(sr && sr.reports >= 2 && sr.target_kbps >= 100 && sr.target_kbps <= 1500,
        'both: the plugin hears Chromium\'s receiver reports about the track and sets its rate from them', JSON.stringify(sr));
      // The data channel needs JPEG, so the track decodes the workers' JPEGs.
      tap(both.ps && both.ps.reply_format === 'jpeg' && vo && vo.jpeg_decode_ms_avg > 0,
        'both: workers answer in JPEG (the data channel needs it), the track decodes it',
        JSON.stringify({ reply_format: both.ps && both.ps.reply_format, vo }));
      summary.both = {
        g2gMs: { video: { p50: pct(g2g.video, 0.5), p95: pct(g2g.video, 0.95), p99: pct(g2g.video, 0.99) },
          datachannel: { p50: pct(g2g.datachannel, 0.5), p95: pct(g2g.datachannel, 0.95), p99: pct(g2g.datachannel, 0.99) } },
        videoOutput: vo, jitterBufferMs: both.jitterBufferMs,
      };
      log('both: glass-to-glass ms ' + JSON.stringify(summary.both.g2gMs));
      await both.page.screenshot({ path: path.join(OUT, 'screenshot-both.png') });
      // Switching output mid-session: video only, then the data channel only.
      await both.page.evaluate(() => window.ooblexDemo.client.configure({ output: 'datachannel' }));
      await both.page.waitForTimeout(1500);
      const v0 = await both.page.evaluate(() => window.ooblexDemo.videoFrames);
      const d0 = await both.page.evaluate(() => window.ooblexDemo.frames);
      await both.page.waitForTimeout(2000);
      const v1 = await both.page.evaluate(() => window.ooblexDemo.videoFrames);
      const d1 = await both.page.evaluate(() => window.ooblexDemo.frames);
      tap(d1 - d0 >= 20 && v1 - v0 <= 5, 'configure output=datachannel mid-session stops the video track, the data channel goes on',
        `data channel +${d1 - d0}, video +${v1 - v0}`);
      const err = await both.page.evaluate(() => window.ooblexDemo.errors);
      tap(err.length === 0, 'both: no client errors', ...err);
      await both.page.evaluate(() => window.ooblexDemo.client.stop());
      await both.page.close();
    }
    // 3. output=video alone: nothing on the data channel.
    const floorV = echotestFloor(browser);
    const video = await run(browser, 'video', 'video');
    const floor2 = await floorV;
    tap(floor2.g2g && floor2.g2g.length >= 60, 'echotest beside output=video relays the pattern too',
      JSON.stringify(Object.assign({}, floor2, { g2g: (floor2.g2g || []).length })));
    if (floor2.g2g && floor2.g2g.length) {
      summary.echotestBesideVideoG2gMs = { p50: pct(floor2.g2g, 0.5), p95: pct(floor2.g2g, 0.95), p99: pct(floor2.g2g, 0.99) };
      summary.echotestBesideVideoJitterBufferMs = floor2.jitterBufferMs;
      log('echotest floor (beside output=video): glass-to-glass ms ' + JSON.stringify(summary.echotestBesideVideoG2gMs));
    }
    if (video.state) {
      tap(video.state.videoFrames >= 60 && video.state.frames === 0, 'video: only the video track carries frames',
        `${video.state.videoFrames} video frames, ${video.state.frames} on the data channel`);
      checkVideoPatches(await video.page.evaluate(patchColours, 'video'), summary.echoPatches, 'video');
      const vo = video.ps && video.ps.video_output;
      // video_reply_format = auto (the default, frame_format i420): the
      // workers' I420 goes straight into the encoder, no JPEG round trip.
      tap(video.ps && video.ps.reply_format === 'i420' && vo && vo.frames_sent > 60 && vo.frames_failed === 0 &&
        vo.jpeg_decode_ms_avg === 0 && video.ps.frames.results_refused.malformed === 0,
        'video: workers answer in I420, encoded as it is (nothing decoded, nothing refused)',
        JSON.stringify({ reply_format: video.ps && video.ps.reply_format, vo, refused: video.ps && video.ps.frames.results_refused }));
      summary.video = { g2gMs: { p50: pct(video.state.g2g.video, 0.5), p95: pct(video.state.g2g.video, 0.95), p99: pct(video.state.g2g.video, 0.99) },
        videoOutput: vo, jitterBufferMs: video.jitterBufferMs };
      log('video: glass-to-glass ms ' + JSON.stringify(summary.video.g2gMs));
      // An ICE restart mid-stream (what the client does by itself when the
      // network changes): same session, the video goes on.
      const restarted = await video.page.evaluate(() => window.ooblexDemo.client.restartIce().then(() => true, (e) => e.message));
      await video.page.waitForTimeout(1500);
      const v0 = await video.page.evaluate(() => window.ooblexDemo.videoFrames);
      await video.page.waitForTimeout(2000);
      const after = await video.page.evaluate(() => ({ v: window.ooblexDemo.videoFrames, id: window.ooblexDemo.client.clientId,
        errors: window.ooblexDemo.errors }));
      tap(restarted === true && after.v - v0 >= 20 && after.errors.length === 0,
        'video: an ICE restart keeps the session and the video track going', JSON.stringify({ restarted, frames: after.v - v0, errors: after.errors }));
      await video.page.screenshot({ path: path.join(OUT, 'screenshot-video.png') });
      // Adding the data channel mid-session: frames sampled from then on
      // come back as JPEG (the data channel delivers them), the I420 ones
      // still in flight are counted, not sent; and back to video alone.
      const before = await api.pageStats(video.page);
      await video.page.evaluate(() => window.ooblexDemo.client.configure({ output: 'both' }));
      await video.page.waitForTimeout(1500);
      const dv0 = await video.page.evaluate(() => ({ d: window.ooblexDemo.frames, v: window.ooblexDemo.videoFrames }));
      await video.page.waitForTimeout(2000);
      const dv1 = await video.page.evaluate(() => ({ d: window.ooblexDemo.frames, v: window.ooblexDemo.videoFrames }));
      const mid = await api.pageStats(video.page);
      const inFlight = mid.frames.dropped_channel - before.frames.dropped_channel;
      tap(mid.reply_format === 'jpeg' && dv1.d - dv0.d >= 20 && dv1.v - dv0.v >= 20 && inFlight <= 12 &&
        mid.frames.results_refused.malformed === 0,
        'video -> both mid-session: workers answer in JPEG from the next frame, both outputs deliver',
        JSON.stringify({ reply_format: mid.reply_format, dataChannel: dv1.d - dv0.d, video: dv1.v - dv0.v,
          i420InFlightCounted: inFlight }));
      await video.page.evaluate(() => window.ooblexDemo.client.configure({ output: 'video' }));
      await video.page.waitForTimeout(1500);
      const back = await api.pageStats(video.page);
      const v2 = await video.page.evaluate(() => window.ooblexDemo.videoFrames);
      await video.page.waitForTimeout(1500);
      const v3 = await video.page.evaluate(() => window.ooblexDemo.videoFrames);
      tap(back.reply_format === 'i420' && v3 - v2 >= 15, 'both -> video: back to I420, the track goes on',
        JSON.stringify({ reply_format: back.reply_format, video: v3 - v2 }));
      await video.page.evaluate(() => window.ooblexDemo.client.stop());
      await video.page.close();
    }
    if (summary.both && summary.echotestG2gMs) {
      summary.overFloorMs = { video: summary.both.g2gMs.video.p50 - summary.echotestG2gMs.p50,
        datachannel: summary.both.g2gMs.datachannel.p50 - summary.echotestG2gMs.p50 };
      if (summary.video && summary.echotestBesideVideoG2gMs) {
        summary.overFloorMs.videoOnly = summary.video.g2gMs.p50 - summary.echotestBesideVideoG2gMs.p50;
      }
      log('processed minus the echotest floor (p50, ms): ' + JSON.stringify(summary.overFloorMs));
      log('mean time in Chromium\'s jitter buffer (ms): ' + JSON.stringify({ echotest: summary.echotestJitterBufferMs,
        processedVideoBoth: summary.both.jitterBufferMs, echotestBesideVideo: summary.echotestBesideVideoJitterBufferMs,
        processedVideoOnly: summary.video && summary.video.jitterBufferMs }));
    }
  } finally {
    fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 2));
    await browser.close();
    server.close();
  }
  process.exit(T.failures ? 1 : 0);
}
main().catch((e) => { console.log('not ok - video ' + CODEC + ': ' + (e && e.stack || e)); process.exit(1); });
