#!/usr/bin/env node
// Four browser sessions at once, each with its own effect: each one receives
// its own processed frames only (its effect, its order), and the plugin's
// stats show four sessions processing. Run by tests/e2e/run.sh.
'use strict';
const path = require('path');
const { tapper, servePage, launchBrowser, janusApi } = require('./lib');

const argv = process.argv.slice(2);
const arg = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def; };
const VIDEO = path.resolve(arg('video', '/tmp/ooblex-e2e-640x480.y4m'));
const OUT = path.resolve(arg('out', 'tests/out/e2e'));
const T = tapper('sessions: ');
const api = janusApi({ admin: 'http://127.0.0.1:17088/admin', adminSecret: 'e2e', http: 'http://127.0.0.1:18088/janus' });
const EFFECTS = ['invert', 'grayscale', 'mirror', 'none'];
const PORT = 18081;

function collect() {
  const rec = (window.__frames = []);
  const g = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
  g.canvas.width = 64; g.canvas.height = 48;
  window.ooblexDemo.client.on('frame', ({ meta, jpeg }) => {
    const f = { id: meta.frame_id, effect: meta.effect, gray: null };
    rec.push(f);
    if (rec.length % 5 === 0) {
      createImageBitmap(new Blob([jpeg], { type: 'image/jpeg' })).then((b) => {
        g.drawImage(b, 0, 0, 64, 48);
        const px = g.getImageData(0, 8, 64, 40).data;  // below the barcode strip
        let worst = 0;
        for (let i = 0; i < px.length; i += 4) worst = Math.max(worst, Math.abs(px[i] - px[i + 1]), Math.abs(px[i + 1] - px[i + 2]));
        f.gray = worst;
      });
    }
  });
}

async function main() {
  const server = await servePage(PORT);
  const browser = await launchBrowser(VIDEO);
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const pages = [];
    for (const effect of EFFECTS) {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${PORT}/index.html?autostart=1&frame_skip=3&effect=${effect}` +
        `&server=${encodeURIComponent('ws://127.0.0.1:18188/')}`, { waitUntil: 'load' });
      await page.waitForFunction(() => window.ooblexDemo && window.ooblexDemo.client, null, { timeout: 10000 });
      await page.evaluate(collect);
      pages.push({ effect, page });
    }
    const ids = [];
    for (const p of pages) {
      ids.push(await p.page.waitForFunction(() => window.ooblexDemo.client.clientId, null, { timeout: 30000 })
        .then((h) => h.jsonValue()).catch(() => null));
    }
    T.ok(ids.every((x) => x) && new Set(ids).size === 4, 'four sessions start, each with its own client_id', JSON.stringify(ids));
    await new Promise((r) => setTimeout(r, 8000));
    // A loaded machine is slower, not wrong: give every session its frames.
    for (const { page } of pages) {
      await page.waitForFunction(() => window.__frames.filter((f) => f.gray !== null).length >= 2, null,
        { timeout: 30000, polling: 200 }).catch(() => {});
    }
    const global = await api.admin({ janus: 'message_plugin', plugin: 'janus.plugin.ooblex', request: { request: 'stats' } });
    T.ok(global.response && global.response.processing === 4, 'the plugin reports four sessions processing', JSON.stringify(global.response));
    await pages[0].page.screenshot({ path: path.join(OUT, 'sessions-invert.png') });
    for (const { effect, page } of pages) {
      const frames = await page.evaluate(() => window.__frames);
      const own = frames.filter((f) => f.effect === effect).length;
      let ordered = true;
      for (let i = 1; i < frames.length; i++) if (frames[i].id <= frames[i - 1].id) ordered = false;
      T.ok(frames.length >= 5 && own === frames.length && ordered, `the ${effect} session gets only its own frames, in order`,
        `${frames.length} frames, ${own} with effect ${effect}, ordered ${ordered}`);
      const checked = frames.filter((f) => f.gray !== null);
      if (effect === 'grayscale') {
        T.ok(checked.length > 0 && checked.every((f) => f.gray < 16), 'the grayscale session\'s frames are gray',
          JSON.stringify(checked.map((f) => f.gray)));
      } else {
        T.ok(checked.length > 0 && checked.every((f) => f.gray > 60), `the ${effect} session's frames keep their colours`,
          JSON.stringify(checked.map((f) => f.gray)));
      }
      T.log(`${effect}: ${frames.length} frames`);
    }
    for (const { page } of pages) await page.evaluate(() => window.ooblexDemo.client.stop());
    await new Promise((r) => setTimeout(r, 1500));
    const after = await api.admin({ janus: 'message_plugin', plugin: 'janus.plugin.ooblex', request: { request: 'stats' } });
    T.ok(after.response && after.response.processing === 0 && after.response.sessions === 0,
      'all four end cleanly', JSON.stringify(after.response));
  } catch (e) {
    T.ok(false, 'sessions test ran', String(e && e.stack || e));
  } finally {
    await browser.close();
    server.close();
  }
  process.exit(T.failures ? 1 : 0);
}

main();
