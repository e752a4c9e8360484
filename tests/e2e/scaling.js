// Scaling without Docker while a session runs: the demo page streams at
// FRAME_SKIP=1 through workers that each take 100 ms a frame; the test runs
// deploy/scale-workers.sh 3, then 1, and watches the processed frame rate
// follow while the stream goes on (same session, no gap over a second).
//   node scaling.js --video FILE --page URL [--ignore-cert]
// Needs the demo running with OOBLEX_WORKER_ARGS="--delay-ms 100" and 1 worker.
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');
const { tapper, launchBrowser } = require('./lib');

const argv = process.argv;
const arg = (name, def) => { const i = argv.indexOf(name); return i > 0 ? argv[i + 1] : def; };
const T = tapper('scaling: ');
const TOP = path.resolve(__dirname, '../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function scale(n) {
  const out = execFileSync(path.join(TOP, 'deploy/scale-workers.sh'), [String(n)], { env: process.env, encoding: 'utf8' });
  T.log(`scale-workers.sh ${n}: ${out.trim()}`);
}

(async () => {
  const browser = await launchBrowser(arg('--video'), argv.includes('--ignore-cert') ? ['--ignore-certificate-errors'] : []);
  try {
    const page = await browser.newPage();
    const url = arg('--page') + '?autostart=1&frame_skip=1&effect=invert';
    await page.goto(url);
    await page.waitForFunction(() => window.ooblexDemo && window.ooblexDemo.frames > 5, null, { timeout: 30000 });
    const clientId = await page.evaluate(() => window.ooblexDemo.client.clientId);
    T.ok(!!clientId, 'a session runs over ' + new URL(url).protocol.replace(':', ''), url);
    // Frame counter sampled every 100 ms: rates per phase, and the longest gap.
    const samples = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push({ t: Date.now(), n: await page.evaluate(() => window.ooblexDemo.frames) });
        await sleep(100);
      }
    })();
    const rate = async (ms) => {
      const a = await page.evaluate(() => window.ooblexDemo.frames);
      const t0 = Date.now();
      await sleep(ms);
      const b = await page.evaluate(() => window.ooblexDemo.frames);
      return (b - a) / ((Date.now() - t0) / 1000);
    };
    await sleep(2000);
    const one = await rate(4000);
    scale(3);
    await sleep(2000);
    const three = await rate(4000);
    scale(1);
    await sleep(3000);
    const back = await rate(4000);
    sampling = false;
    await sampler;
    let gap = 0, last = samples[0];
    for (const s of samples) {
      if (s.n > last.n) last = s;
      else gap = Math.max(gap, s.t - last.t);
    }
    T.log(`processed fps: 1 worker ${one.toFixed(1)}, 3 workers ${three.toFixed(1)}, back to 1 ${back.toFixed(1)}; longest gap ${gap} ms`);
    T.ok(one > 4 && one < 14, 'one 100 ms worker gives about 10 processed fps', one.toFixed(1));
    T.ok(three >= 2 * one, 'scaling up to 3 workers at least doubles the rate', `${one.toFixed(1)} -> ${three.toFixed(1)}`);
    T.ok(back < 0.6 * three, 'scaling down to 1 brings it back down', `${three.toFixed(1)} -> ${back.toFixed(1)}`);
    T.ok(gap < 1000, 'the stream never stalls for a second while workers come and go', `${gap} ms`);
    const after = await page.evaluate(() => ({ id: window.ooblexDemo.client.clientId, errors: window.ooblexDemo.errors }));
    T.ok(after.id === clientId && after.errors.length === 0, 'the same session throughout, without errors', JSON.stringify(after));
  } finally {
    await browser.close();
  }
  process.exit(T.failures ? 1 : 0);
})().catch((e) => { console.log('not ok - scaling: ' + (e && e.stack || e)); process.exit(1); });
