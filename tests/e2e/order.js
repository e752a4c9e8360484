#!/usr/bin/env node
// Order with a bounded wait, with three workers of which one is deliberately
// slow (run.sh swaps one worker for `ooblex-worker --delay-ms 250`): every
// frame the page gets comes in increasing order, the slow worker's results
// are waited for only up to the bound and then counted as late, and the
// stream keeps its pace. Also checks that the adaptive wait went to the bound.
//   node order.js --out DIR --video FILE
'use strict';
const fs = require('fs');
const path = require('path');
const { tapper, servePage, launchBrowser, janusApi } = require('./lib');

const argv = process.argv.slice(2);
const arg = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def; };
const OUT = path.resolve(arg('out', 'tests/out/e2e/order'));
const PAGE_PORT = 18083;
const JANUS_WS = 'ws://127.0.0.1:18188/', JANUS_HTTP = 'http://127.0.0.1:18088/janus';
const api = janusApi({ admin: 'http://127.0.0.1:17088/admin', adminSecret: 'e2e', http: JANUS_HTTP });
const T = tapper('order: ');

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = await servePage(PAGE_PORT);
  const browser = await launchBrowser(path.resolve(arg('video', '/tmp/ooblex-e2e-640x480.y4m')));
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${PAGE_PORT}/index.html?autostart=1&effect=invert&frame_skip=1` +
      `&server=${encodeURIComponent(JANUS_WS)}&server=${encodeURIComponent(JANUS_HTTP)}`);
    await page.waitForFunction(() => window.ooblexDemo.client && window.ooblexDemo.client.clientId, null, { timeout: 20000 });
    await page.evaluate(() => {
      window.__order = [];
      window.ooblexDemo.client.on('frame', ({ meta, receivedAt }) => window.__order.push({ id: meta.frame_id, w: meta.worker, t: receivedAt }));
    });
    await page.waitForTimeout(8000);
    const frames = await page.evaluate(() => window.__order);
    const ps = await api.pageStats(page);
    const errors = await page.evaluate(() => window.ooblexDemo.errors);
    await page.evaluate(() => window.ooblexDemo.client.stop());

    let bad = 0;
    for (let i = 1; i < frames.length; i++) if (frames[i].id <= frames[i - 1].id) bad++;
    const span = frames.length > 1 ? (frames[frames.length - 1].t - frames[0].t) / 1000 : 1;
    const byWorker = {};
    for (const f of frames) byWorker[f.w] = (byWorker[f.w] || 0) + 1;
    T.log(`${frames.length} frames in ${span.toFixed(1)} s (${(frames.length / span).toFixed(1)} fps), by worker ${JSON.stringify(byWorker)}; ` +
      `reorder ${JSON.stringify(ps.reorder)}`);
    T.ok(frames.length >= 100, 'the stream keeps its pace with one slow worker', `${frames.length} frames in 8 s`);
    T.ok(bad === 0, 'every frame arrives in increasing order', `${bad} out of order`);
    T.ok(ps.reorder.late > 0 && ps.reorder.skipped > 0, 'the slow worker\'s frames are waited for, skipped, and counted late when they come',
      JSON.stringify(ps.reorder));
    T.ok(Math.abs(ps.reorder.wait_ms - 150) < 1, 'the adaptive wait went up to its bound (reorder_wait_ms)', `wait ${ps.reorder.wait_ms} ms`);
    T.ok(errors.length === 0, 'the client reports no errors', ...errors);
  } finally {
    await browser.close();
    server.close();
  }
  process.exit(T.failures ? 1 : 0);
}
main().catch((e) => { console.log('not ok - order: ' + (e && e.stack || e)); process.exit(1); });
