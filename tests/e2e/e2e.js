#!/usr/bin/env node
// End-to-end test driver (run by tests/e2e/run.sh inside its network namespace,
// with Janus, Redis and the workers already up).
//
// Serves the real demo page (html/) plus Debian's janus.js and adapter.js,
// opens it in headless Debian Chromium with a fake camera playing a video whose
// frames carry their index as a barcode, and checks what comes back over the
// data channel: processed (inverted) pixels matching the exact source frame,
// increasing frame order, FRAME_SKIP honoured, configure applied mid-stream,
// and the plugin's stats adding up. Prints TAP lines and a JSON summary.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { tapper, servePage, launchBrowser, janusApi } = require('./lib');

const argv = process.argv.slice(2);
const arg = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def; };
const OUT = path.resolve(arg('out', 'tests/out/e2e'));
const VIDEO = path.resolve(arg('video', '/tmp/ooblex-e2e-640x480.y4m'));
const REDIS_PORT = Number(arg('redis-port', 16379));
// By default the test serves html/ itself; --page URL tests a page someone
// else serves (run-webrtc-demo.sh's, in tests/demo/run.sh).
const PAGE = arg('page', null);
const PAGE_PORT = 18080;
const JANUS_WS = arg('janus-ws', 'ws://127.0.0.1:18188/');
const JANUS_HTTP = arg('janus-http', 'http://127.0.0.1:18088/janus');
const ADMIN = arg('admin', 'http://127.0.0.1:17088/admin');
const ADMIN_SECRET = arg('admin-secret', 'e2e');
const CODEC = arg('codec', null);   // null: the server's preference (VP8)
const EVENTS = arg('events', null);  // where Janus' event handler output lands, if enabled
const LABEL = CODEC ? CODEC + ': ' : '';
const W = 640, H = 480;
const PHASE_MS = 6000;
const T = tapper(LABEL);
const tap = T.ok, log = T.log;
const api = janusApi({ admin: ADMIN, adminSecret: ADMIN_SECRET, http: JANUS_HTTP });
const admin = api.admin;

// ------------------------------------------------------------ source frames
// The y4m file: one header line, then per frame "FRAME\n" and I420 pixels.
const y4m = (() => {
  const fd = fs.openSync(VIDEO, 'r');
  const head = Buffer.alloc(256);
  fs.readSync(fd, head, 0, 256, 0);
  const headerLen = head.indexOf(0x0a) + 1;
  const frameLen = W * H * 3 / 2;
  const frames = Math.floor((fs.statSync(VIDEO).size - headerLen) / (6 + frameLen));
  return {
    frames,
    read(k) {
      const buf = Buffer.alloc(frameLen);
      fs.readSync(fd, buf, 0, frameLen, headerLen + k * (6 + frameLen) + 6);
      return buf;
    },
  };
})();

// Mean R, G, B of 32x32 blocks below the barcode strip, BT.601 limited range
// (what Chromium's capture and our JPEG path use).
const BLOCK = 32, TOP = 64;
function sourceBlocks(k) {
  const f = y4m.read(k), cw = W / 2;
  const out = [];
  for (let by = TOP; by + BLOCK <= H; by += BLOCK) {
    for (let bx = 0; bx + BLOCK <= W; bx += BLOCK) {
      let r = 0, g = 0, b = 0, n = 0;
      for (let y = by; y < by + BLOCK; y += 2) {
        for (let x = bx; x < bx + BLOCK; x += 2) {
          const Y = f[y * W + x], U = f[W * H + (y >> 1) * cw + (x >> 1)], V = f[W * H + (W * H) / 4 + (y >> 1) * cw + (x >> 1)];
          const c = 1.164 * (Y - 16);
          r += Math.min(255, Math.max(0, c + 1.596 * (V - 128)));
          g += Math.min(255, Math.max(0, c - 0.392 * (U - 128) - 0.813 * (V - 128)));
          b += Math.min(255, Math.max(0, c + 2.017 * (U - 128)));
          n++;
        }
      }
      out.push(r / n, g / n, b / n);
    }
  }
  return out;
}

// Runs in the page: records every processed frame's metadata, and for some of
// them the barcode and the block means, decoded from the JPEG itself.
function installCollector(opts) {
  const { W, H, BLOCK, TOP, sampleEvery } = opts;
  const c = document.createElement('canvas');
  c.width = W; c.height = H;
  const g = c.getContext('2d', { willReadFrequently: true });
  const rec = (window.__e2e = { frames: [], samples: [], phase: 1, configuredAt: null, errors: [] });
  const client = window.ooblexDemo.client;
  client.on('configured', (info) => { rec.configuredAt = Date.now(); rec.configured = info; });
  client.on('error', (e) => rec.errors.push(e.message));
  client.on('frame', ({ meta, jpeg, receivedAt, latencyMs }) => {
    const i = rec.frames.length;
    rec.frames.push({ id: meta.frame_id, seq: meta.seq, t: meta.t, receivedAt, latencyMs, phase: rec.phase,
      w: meta.width, h: meta.height, effect: meta.effect, worker: meta.worker });
    if (i % sampleEvery !== 0) return;
    createImageBitmap(new Blob([jpeg], { type: 'image/jpeg' })).then((bmp) => {
      g.drawImage(bmp, 0, 0, W, H);  // browsers may send less than 640x480 early on
      bmp.close();
      const px = g.getImageData(0, 0, W, H).data;
      let code = 0;
      for (let bit = 0; bit < 16; bit++) {
        const o = (24 * W + bit * 40 + 20) * 4;
        const lum = (px[o] + px[o + 1] + px[o + 2]) / 3;
        if (lum < 128) code |= 1 << bit;  // inverted: a white (1) cell comes back dark
      }
      const blocks = [];
      for (let by = TOP; by + BLOCK <= H; by += BLOCK) {
        for (let bx = 0; bx + BLOCK <= W; bx += BLOCK) {
          let r = 0, gg = 0, b = 0, n = 0;
          for (let y = by; y < by + BLOCK; y += 2) {
            for (let x = bx; x < bx + BLOCK; x += 2) {
              const o = (y * W + x) * 4;
              r += px[o]; gg += px[o + 1]; b += px[o + 2]; n++;
            }
          }
          blocks.push(r / n, gg / n, b / n);
        }
      }
      rec.samples.push({ id: meta.frame_id, code, blocks, w: meta.width, h: meta.height, effect: meta.effect });
    });
  });
}

// Waits (up to 30 s more) until the page has `n` frames of `phase`.
function atLeast(page, phase, n) {
  return page.waitForFunction(([p, k]) => window.__e2e.frames.filter((f) => f.phase === p).length >= k,
    [phase, n], { timeout: 30000, polling: 200 }).catch(() => {});
}

const pct = (xs, p) => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const r1 = (x) => (x === null ? null : Math.round(x * 10) / 10);

function phaseFigures(frames) {
  if (frames.length < 2) return { frames: frames.length };
  const span = (frames[frames.length - 1].receivedAt - frames[0].receivedAt) / 1000;
  const lat = frames.map((f) => f.latencyMs).filter((x) => x !== null);
  const stage = (fn) => r1(pct(frames.map(fn), 0.5));
  return {
    frames: frames.length,
    fps: r1((frames.length - 1) / span),
    latencyMs: { p50: r1(pct(lat, 0.5)), p95: r1(pct(lat, 0.95)), max: r1(Math.max(...lat)) },
    stagesMsP50: {
      decode_and_sample: stage((f) => (f.t.queued - f.t.capture) / 1000),
      queue_wait: stage((f) => (f.t.worker_start - f.t.queued) / 1000),
      worker: stage((f) => (f.t.worker_end - f.t.worker_start) / 1000),
      result_to_plugin: stage((f) => (f.t.returned - f.t.worker_end) / 1000),
      reorder: stage((f) => (f.t.sent - f.t.returned) / 1000),
      data_channel_and_reassembly: stage((f) => f.receivedAt - f.t.sent / 1000),
    },
    resolution: frames[frames.length - 1].w + 'x' + frames[frames.length - 1].h,
  };
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = PAGE ? null : await servePage(PAGE_PORT);
  const summary = { video: VIDEO, sourceFrames: y4m.frames };
  let browser;
  const consoleLines = [];
  try {
    browser = await launchBrowser(VIDEO);
    summary.browser = browser.version();
    const page = await (await browser.newContext({ viewport: { width: 1320, height: 720 } })).newPage();
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') consoleLines.push(m.type() + ': ' + m.text()); });
    page.on('pageerror', (e) => consoleLines.push('pageerror: ' + e.message));
    const url = (PAGE || `http://127.0.0.1:${PAGE_PORT}/index.html`) + '?autostart=1&effect=invert&frame_skip=3' +
      // Full rate: this test checks the server's own FRAME_SKIP sampler (frames 1, 4, 7...);
      // source-side sampling has its own, sampling.js.
      '&full_rate=1' +
      (CODEC ? '&codec=' + CODEC : '') +
      `&server=${encodeURIComponent(JANUS_WS)}&server=${encodeURIComponent(JANUS_HTTP)}`;
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForFunction(() => window.ooblexDemo && window.ooblexDemo.client, null, { timeout: 10000 });
    await page.evaluate(installCollector, { W, H, BLOCK, TOP, sampleEvery: 3 });

    // Phase 1: FRAME_SKIP 3, invert.
    const started = await page.waitForFunction(() => window.ooblexDemo.client.clientId, null, { timeout: 20000 })
      .then((h) => h.jsonValue()).catch(() => null);
    tap(typeof started === 'string' && /^[0-9a-f]{32}$/.test(started), 'start answers with a 128-bit client_id',
      'got ' + started, ...(await page.evaluate(() => window.ooblexDemo.errors).catch(() => [])));
    if (!started) throw new Error('session never started');
    const codec = await page.evaluate(() => window.ooblexDemo.client.codec);
    tap(codec === (CODEC || 'vp8'), 'the session receives ' + (CODEC || 'vp8') + ' (the server\'s first choice unless asked)', 'codec ' + codec);
    const usedWs = await page.evaluate(() => window.ooblexDemo.client.janus.getServer());
    tap(usedWs.startsWith('ws://'), 'signalling goes over the WebSocket transport', 'used ' + usedWs);
    await page.waitForFunction(() => window.__e2e.frames.length > 0, null, { timeout: 20000 }).catch(() => {});
    await page.waitForTimeout(PHASE_MS);
    // Enough frames for the checks, however slow a loaded machine makes them.
    await atLeast(page, 1, 15);
    const ids = await page.evaluate(() => ({ s: window.ooblexDemo.client.janus.getSessionId(), h: window.ooblexDemo.client.handle.getId() }));
    await page.screenshot({ path: path.join(OUT, 'screenshot.png') });

    // A misbehaving worker: garbage in this client's result list must be
    // counted and skipped, and the stream must go on.
    const resultKey = 'processed_frames:' + started;
    const redis = (args, input) => execFileSync('redis-cli', ['-p', String(REDIS_PORT), ...args], input ? { input } : {});
    redis(['LPUSH', resultKey, 'not a frame at all']);
    redis(['-x', 'LPUSH', resultKey], Buffer.concat([Buffer.from('OOBX\x01\x02'), Buffer.alloc(40)]));
    redis(['-x', 'LPUSH', resultKey], Buffer.alloc(5 * 1024 * 1024, 0x4f));

    // Phase 2: FRAME_SKIP 1 through configure, while streaming.
    await page.evaluate(() => { window.__e2e.phase = 2; window.ooblexDemo.client.configure({ frameSkip: 1 }); });
    await page.waitForFunction(() => window.__e2e.configuredAt, null, { timeout: 10000 }).catch(() => {});
    await page.waitForTimeout(1000);
    await page.evaluate(() => { window.__e2e.phase = 3; });  // phase 3: measured with FRAME_SKIP 1
    await page.waitForTimeout(PHASE_MS);
    await atLeast(page, 3, 15);
    const live = await admin({ janus: 'handle_info' }, ids.s, ids.h);

    // Phase 5: another effect, while streaming.
    await page.evaluate(() => { window.__e2e.phase = 4; window.__e2e.configuredAt = null; window.ooblexDemo.client.configure({ effect: 'grayscale' }); });
    await page.waitForFunction(() => window.__e2e.configuredAt, null, { timeout: 10000 }).catch(() => {});
    await page.waitForTimeout(500);
    await page.evaluate(() => { window.__e2e.phase = 5; });
    await page.waitForTimeout(3000);
    await atLeast(page, 5, 12);
    await page.evaluate(() => { window.__e2e.phase = 6; });
    await page.waitForTimeout(500);  // let the last sampled JPEGs decode
    const rec = await page.evaluate(() => window.__e2e);
    const global = await admin({ janus: 'message_plugin', plugin: 'janus.plugin.ooblex', request: { request: 'stats' } });

    // The stop request alone (the handle lives on): every counter is final now.
    await page.evaluate(() => window.ooblexDemo.client.handle.send({ message: { request: 'stop' } }));
    await page.waitForTimeout(1500);
    const hi = await admin({ janus: 'handle_info' }, ids.s, ids.h);
    const after = await admin({ janus: 'message_plugin', plugin: 'janus.plugin.ooblex', request: { request: 'stats' } });
    await page.evaluate(() => window.ooblexDemo.client.stop());

    // ---------------------------------------------------------- assertions
    const frames = rec.frames;
    const p1 = frames.filter((f) => f.phase === 1), p3 = frames.filter((f) => f.phase === 3);
    tap(p1.length >= 15, 'processed frames come back over the data channel', `${p1.length} frames`);
    let ordered = true, firstBad = null;
    for (let i = 1; i < frames.length; i++) if (frames[i].id <= frames[i - 1].id) { ordered = false; firstBad = firstBad || [frames[i - 1].id, frames[i].id]; }
    tap(ordered && frames.length > 0, 'frames arrive in increasing frame order', 'first inversion ' + JSON.stringify(firstBad));

    // Pixels: every sampled frame against (255 - its own source frame).
    let checked = 0, good = 0, worst = 0, closestUninverted = 1e9;
    const bad = [];
    for (const s of rec.samples) {
      if (s.code >= y4m.frames) { bad.push(`frame ${s.id}: barcode ${s.code} out of range`); continue; }
      const src = sourceBlocks(s.code);
      let dInv = 0, dRaw = 0;
      for (let i = 0; i < src.length; i++) { dInv += Math.abs(s.blocks[i] - (255 - src[i])); dRaw += Math.abs(s.blocks[i] - src[i]); }
      dInv /= src.length; dRaw /= src.length;
      checked++;
      worst = Math.max(worst, dInv);
      closestUninverted = Math.min(closestUninverted, dRaw);
      if (dInv < 20 && dRaw > 60) good++;
      else bad.push(`frame ${s.id} (source ${s.code}, ${s.w}x${s.h}): |p-(255-src)|=${dInv.toFixed(1)} |p-src|=${dRaw.toFixed(1)}`);
    }
    log(`pixels: ${good}/${checked} sampled frames match their inverted source frame; worst block error ${worst.toFixed(1)}, closest to uninverted ${closestUninverted.toFixed(1)}`);
    tap(checked >= 8 && good >= 0.9 * checked, 'processed pixels are the inverted source frame of the same number',
      `${good}/${checked} matched`, ...bad.slice(0, 5));

    const deltas = (fs_) => fs_.slice(1).map((f, i) => f.id - fs_[i].id);
    const share = (xs, v) => (xs.length ? xs.filter((x) => x === v).length / xs.length : 0);
    const d1 = deltas(p1), d3 = deltas(p3);
    tap(share(d1, 3) >= 0.8, 'FRAME_SKIP=3 sends every third decoded frame', 'deltas ' + JSON.stringify(d1.slice(0, 30)));
    tap(rec.configured && rec.configured.frameSkip === 1 && share(d3, 1) >= 0.8, 'configure switches FRAME_SKIP to 1 mid-stream',
      'configured ' + JSON.stringify(rec.configured), 'deltas ' + JSON.stringify(d3.slice(0, 30)));
    const workers = new Set(frames.map((f) => f.worker));
    tap(workers.size >= 2, 'frames are processed by several workers', [...workers].join(', '));
    tap(rec.errors.length === 0, 'the client reports no errors', ...rec.errors);

    const gray = rec.samples.filter((x) => x.effect === 'grayscale');
    const grayOk = gray.filter((x) => {
      let worst = 0;
      for (let i = 0; i < x.blocks.length; i += 3) worst = Math.max(worst, Math.abs(x.blocks[i] - x.blocks[i + 1]), Math.abs(x.blocks[i + 1] - x.blocks[i + 2]));
      return worst < 12;
    });
    const p5 = frames.filter((f) => f.phase === 5);
    tap(p5.length > 0 && p5.every((f) => f.effect === 'grayscale') && gray.length >= 3 && grayOk.length === gray.length,
      'configure changes the effect mid-stream, and the frames show it',
      `${p5.length} frames after, effects ${[...new Set(p5.map((f) => f.effect))]}, ${grayOk.length}/${gray.length} sampled frames gray`);

    const ps = hi.info && hi.info.plugin_specific, fr = ps && ps.frames, ro = ps && ps.reorder;
    // Every counter accounts for the ones before it (the session is stopped, so they are final).
    const identities = fr && ro ? [
      ['sampled + deferred (in flight, fair share) <= decoded',
        fr.sampled + fr.deferred_in_flight + fr.deferred_fair_share <= fr.decoded],
      ['decoded + decode_errors <= assembled', fr.decoded + fr.decode_errors <= fr.assembled],
      ['sampled = queued + dropped_queue_full', fr.sampled === fr.queued + fr.dropped_queue_full],
      // A worker's error result holds its frame's place in the reorder buffer
      // like a result does (docs/api.md: results + results_error = ...).
      ['results + results_error <= queued', fr.results + fr.results_error <= fr.queued],
      ['results + results_error = delivered + late + duplicates + held',
        fr.results + fr.results_error === ro.delivered + ro.late + ro.duplicates + ro.held],
      ['delivered = sent + dropped_channel + dropped_backpressure + errors_resolved',
        ro.delivered === fr.sent + fr.dropped_channel + fr.dropped_backpressure + (fr.errors_resolved || 0)],
      ['sent >= frames the page got', fr.sent >= frames.length],
      ['packets_received > assembled > 0', fr.packets_received > fr.assembled && fr.assembled > 0],
    ] : [['stats present', false]];
    const broken = identities.filter(([, ok]) => !ok).map(([name]) => name);
    tap(broken.length === 0, 'Admin API handle_info stats add up', 'broken: ' + broken.join('; '), JSON.stringify(ps));
    const lat = live.info && live.info.plugin_specific && live.info.plugin_specific.latency_ms;
    tap(lat && lat.total.p50 > 0 && lat.worker.p50 > 0 && lat.total.p95 >= lat.total.p50 &&
      live.info.plugin_specific.effective_fps > 0, 'stats report per-stage latency and the effective fps',
      JSON.stringify(live.info && live.info.plugin_specific));
    // Two reach the session and are malformed; the 5 MiB one is over
    // max_result_bytes and is dropped by the reader unread (results_oversized, plugin-wide).
    const oversized = global.response && global.response.redis && global.response.redis.results_oversized;
    tap(fr && fr.results_malformed === 2 && oversized >= 1 && p3.length > 0,
      'garbage results are counted and skipped, and the stream goes on',
      'results_malformed ' + (fr && fr.results_malformed) + ', results_oversized ' + oversized + ', frames after: ' + p3.length);
    tap(global.response && global.response.totals && global.response.totals.frames_sent >= frames.length &&
      global.response.redis.producer_connected && global.response.redis.reader_connected,
      'Admin API message_plugin stats report Redis and totals', JSON.stringify(global.response));
    tap(after.response && after.response.processing === 0, 'stopping the client ends processing in the plugin', JSON.stringify(after.response));
    const llen = execFileSync('redis-cli', ['-p', String(REDIS_PORT), 'LLEN', 'frames_to_process']).toString().trim();
    tap(llen === '0', 'redis-cli LLEN frames_to_process is 0 (workers kept up)', 'LLEN = ' + llen);

    // A second client, as a user embedding ooblex.js would: its own MediaStream
    // (a canvas), and a server list whose WebSocket is dead, so janus.js must
    // fall back to HTTP.
    const page2 = await page.context().newPage();
    await page2.goto(PAGE || `http://127.0.0.1:${PAGE_PORT}/index.html`, { waitUntil: 'load' });
    const embed = await page2.evaluate(async (janusHttp) => {
      const c = document.createElement('canvas');
      c.width = 320; c.height = 240;
      const g = c.getContext('2d');
      let x = 0;
      const timer = setInterval(() => {
        g.fillStyle = 'rgb(200,50,100)'; g.fillRect(0, 0, 320, 240);
        g.fillStyle = 'rgb(20,20,20)'; g.fillRect((x += 4) % 280, 180, 40, 40);
      }, 33);
      const stream = c.captureStream(30);
      const client = new Ooblex.Client({ server: ['ws://127.0.0.1:1/', janusHttp], stream, effect: 'invert', frameSkip: 1 });
      const errors = [];
      client.on('error', (e) => errors.push(e.message));
      const frame = new Promise((resolve) => client.on('frame', async ({ bitmap, meta }) => {
        const k = document.createElement('canvas'); k.width = bitmap.width; k.height = bitmap.height;
        const kg = k.getContext('2d'); kg.drawImage(bitmap, 0, 0);
        const p = kg.getImageData(40, 40, 1, 1).data;
        resolve({ px: [p[0], p[1], p[2]], meta });
      }));
      const timeout = new Promise((resolve) => setTimeout(() => resolve(null), 20000));
      try { await Promise.race([client.start(), timeout]); } catch (e) { errors.push('start: ' + e.message); }
      const got = await Promise.race([frame, timeout]);
      const server = client.janus && client.janus.getServer();
      client.stop();
      await new Promise((r) => setTimeout(r, 300));
      clearInterval(timer);
      return { got, server, errors, trackAfterStop: stream.getVideoTracks()[0].readyState };
    }, JANUS_HTTP);
    await page2.close();
    const px = embed.got && embed.got.px;
    tap(!!px && Math.abs(px[0] - 55) < 25 && Math.abs(px[1] - 205) < 25 && Math.abs(px[2] - 155) < 25,
      'a caller-supplied MediaStream is processed (canvas rgb(200,50,100) comes back inverted)', JSON.stringify(embed));
    tap(embed.server === JANUS_HTTP, 'with the WebSocket unreachable, signalling falls back to HTTP', 'used ' + embed.server);
    tap(embed.trackAfterStop === 'live', "stop() leaves the caller's own stream running", embed.trackAfterStop);

    if (EVENTS) {
      await new Promise((r) => setTimeout(r, 1000));  // the handler posts asynchronously
      const mine = fs.readFileSync(EVENTS, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
        .filter((e) => e.type === 64 && e.event && e.event.data && e.event.plugin === 'janus.plugin.ooblex' && e.handle_id === ids.h)
        .map((e) => e.event.data);
      const kinds = mine.map((d) => d.event);
      const startedEv = mine.find((d) => d.event === 'started');
      tap(startedEv && startedEv.client_id === started && kinds.includes('configured') && kinds.includes('stopped'),
        'Janus event handlers receive start, configure and stop', JSON.stringify(mine));
    }

    summary.skip3 = phaseFigures(p1);
    summary.skip1 = phaseFigures(p3);
    summary.workers = [...workers];
    summary.pixelCheck = { checked, good, worstBlockError: r1(worst), closestUninverted: r1(closestUninverted) };
    summary.pluginStats = ps;
    summary.pluginStatsWhileStreaming = live.info && live.info.plugin_specific;
    log('FRAME_SKIP=3: ' + JSON.stringify(summary.skip3));
    log('FRAME_SKIP=1: ' + JSON.stringify(summary.skip1));
  } catch (e) {
    tap(false, 'end-to-end run', String(e && e.stack || e));
  } finally {
    if (browser) await browser.close();
    if (server) server.close();
  }
  summary.console = consoleLines.slice(0, 30);
  fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 2));
  log('summary: ' + path.join(OUT, 'summary.json') + ', screenshot: ' + path.join(OUT, 'screenshot.png'));
  process.exit(T.failures ? 1 : 0);
}

main();
