#!/usr/bin/env node
// Metadata-only frames (docs/api.md, output "metadata"): for an effect that
// detects, the page gets what was found and no picture, and draws it over
// its own video.
//
// A real Chromium whose fake camera shows real footage with a face
// (opencv-doc's messi5.jpg, padded to 640x480), the demo page, the real
// Janus, plugin and workers running `faces`. First with pictures (output
// datachannel): the JPEGs come with the box in their metadata. Then
// configure({output: 'metadata'}) on the running session, and a second page
// that starts with it: frames come without a picture (bitmap and jpeg
// null), the box is where the face is, the demo draws it (its green edge is
// on the canvas), the plugin's stats say output metadata and reply format
// none, and a frame costs the data channel a few hundred bytes
// (frames.dc_bytes_sent / frames.sent) against the JPEG's tens of
// kilobytes, both measured here (figures in summary.json).
//   node metadata.js --out DIR --video FACE.y4m
'use strict';
const fs = require('fs');
const path = require('path');
const { tapper, servePage, launchBrowser, janusApi } = require('./lib');

const argv = process.argv.slice(2);
const arg = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def; };
const OUT = path.resolve(arg('out', 'tests/out/e2e/metadata'));
const PAGE_PORT = 18087;
const JANUS_WS = 'ws://127.0.0.1:18188/', JANUS_HTTP = 'http://127.0.0.1:18088/janus';
const api = janusApi({ admin: 'http://127.0.0.1:17088/admin', adminSecret: 'e2e', http: JANUS_HTTP });
const T = tapper('metadata: ');
// Where the face is in the padded 640x480 picture (messi5.jpg's face, about
// x 222..260, y 95..132 of 548x342, scaled by 640/548 and moved down 40 rows).
const FACE = { x: 281, y: 172 };

const url = (output) => `http://127.0.0.1:${PAGE_PORT}/index.html?autostart=1&frame_skip=3&effect=faces&output=${output}` +
  `&server=${encodeURIComponent(JANUS_WS)}&server=${encodeURIComponent(JANUS_HTTP)}`;

// In the page: what each 'frame' event brings.
function watchFrames() {
  window.__frames = [];
  window.ooblexDemo.client.on('frame', ({ bitmap, jpeg, meta }) => {
    const faces = meta.detections && meta.detections.faces;
    window.__frames.push({ bitmap: !!bitmap, jpeg: jpeg ? jpeg.length : null, width: meta.width, faces: faces || null });
  });
}

// What the window [from, to) of frames shows, and the data channel's bytes per frame over it.
function summarize(frames, before, after) {
  const sent = after.frames.sent - before.frames.sent;
  const bytes = after.frames.dc_bytes_sent - before.frames.dc_bytes_sent;
  const withFace = frames.filter((f) => Array.isArray(f.faces) && f.faces.length > 0);
  const near = withFace.filter((f) => f.faces.some(([x, y, w, h]) =>
    Math.abs(x + w / 2 - FACE.x) < 40 && Math.abs(y + h / 2 - FACE.y) < 40));
  return { frames: frames.length, pictures: frames.filter((f) => f.bitmap).length,
    withFace: withFace.length, faceWhereItIs: near.length, sent, bytesPerFrame: sent ? Math.round(bytes / sent) : null,
    box: withFace.length ? withFace[withFace.length - 1].faces[0] : null };
}

async function window_(page, ms) {
  const before = await api.pageStats(page);
  const from = await page.evaluate(() => window.__frames.length);
  await page.waitForTimeout(ms);
  const after = await api.pageStats(page);
  const frames = await page.evaluate((n) => window.__frames.slice(n), from);
  return { s: summarize(frames, before, after), stats: after };
}

// In the page: the canvas pixel on the box's top edge, and the frame's middle.
function boxEdgePixel() {
  const meta = window.ooblexDemo.lastMeta;
  const faces = meta && meta.detections && meta.detections.faces;
  if (!faces || !faces.length) return null;
  const [x, y, w] = faces[0];
  const ctx = document.getElementById('processed').getContext('2d');
  return Array.from(ctx.getImageData(Math.round(x + w / 2), Math.round(y), 1, 1).data);
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = await servePage(PAGE_PORT);
  const browser = await launchBrowser(path.resolve(arg('video')));
  const summary = {};
  try {
    const page = await browser.newPage();
    await page.goto(url('datachannel'));
    await page.waitForFunction(() => window.ooblexDemo.client && window.ooblexDemo.client.clientId, null, { timeout: 20000 });
    await page.evaluate(watchFrames);
    await page.waitForTimeout(2000);
    const jpeg = await window_(page, 4000);
    summary.pictures = jpeg.s;
    T.log('with pictures: ' + JSON.stringify(jpeg.s));
    T.ok(jpeg.s.frames >= 10 && jpeg.s.pictures === jpeg.s.frames, 'output datachannel: processed frames come as pictures',
      JSON.stringify(jpeg.s));
    T.ok(jpeg.s.faceWhereItIs >= jpeg.s.frames * 0.8, 'faces finds the face where it is, in the metadata (detections.faces)',
      JSON.stringify(jpeg.s));

    const configured = await page.evaluate(() => new Promise((resolve) => {
      window.ooblexDemo.client.on('configured', (c) => resolve(c));
      window.ooblexDemo.client.configure({ output: 'metadata' });
    }));
    T.ok(configured && configured.output === 'metadata', "configure({output: 'metadata'}) is accepted",
      JSON.stringify(configured));
    await page.waitForTimeout(1000);	// the frames sampled before it come and go
    const meta = await window_(page, 4000);
    summary.configured = meta.s;
    T.log('metadata only (configured): ' + JSON.stringify(meta.s));
    T.ok(meta.s.frames >= 10 && meta.s.pictures === 0, 'output metadata: frames keep coming, with no picture (bitmap and jpeg null)',
      JSON.stringify(meta.s));
    T.ok(meta.s.faceWhereItIs >= meta.s.frames * 0.8, 'output metadata: the box is where the face is',
      JSON.stringify(meta.s));
    T.ok(meta.stats.output === 'metadata' && meta.stats.reply_format === 'none',
      "the session's stats: output metadata, workers asked for no picture (reply_format none)",
      JSON.stringify({ output: meta.stats.output, reply_format: meta.stats.reply_format }));
    T.ok(meta.s.bytesPerFrame !== null && meta.s.bytesPerFrame < 1000 && jpeg.s.bytesPerFrame > 20 * meta.s.bytesPerFrame,
      'a frame costs the data channel a few hundred bytes, not a JPEG (frames.dc_bytes_sent / frames.sent)',
      `${meta.s.bytesPerFrame} bytes a frame, against ${jpeg.s.bytesPerFrame} with pictures`);
    const edge = await page.evaluate(boxEdgePixel);
    const drawn = await page.evaluate(() => window.ooblexDemo.boxesDrawn);
    T.ok(drawn > 0 && edge && edge[1] > 150 && edge[0] < 120 && edge[2] < 140,
      'the demo draws the box over the page\'s own video (green on the canvas)', JSON.stringify({ drawn, edge }));

    // A second page that starts with output metadata.
    const page2 = await browser.newPage();
    await page2.goto(url('metadata'));
    await page2.waitForFunction(() => window.ooblexDemo.client && window.ooblexDemo.client.clientId, null, { timeout: 20000 });
    await page2.evaluate(watchFrames);
    await page2.waitForTimeout(1000);
    const started = await window_(page2, 4000);
    summary.started = started.s;
    T.log('metadata only (from start): ' + JSON.stringify(started.s));
    T.ok(started.s.frames >= 10 && started.s.pictures === 0 && started.s.faceWhereItIs >= started.s.frames * 0.8,
      "start with output 'metadata': the boxes, no pictures", JSON.stringify(started.s));
    const errors = await Promise.all([page, page2].map((p) => p.evaluate(() => window.ooblexDemo.errors)));
    T.ok(errors.flat().length === 0, 'no client errors', ...errors.flat());
    for (const p of [page, page2]) await p.evaluate(() => window.ooblexDemo.client.stop());
    fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 2));
  } finally {
    await browser.close();
    server.close();
  }
  process.exit(T.failures ? 1 : 0);
}
main().catch((e) => { console.log('not ok - metadata: ' + (e && e.stack || e)); process.exit(1); });
