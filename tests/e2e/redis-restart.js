// The demo's own Redis killed (SIGKILL) while a page streams: the demo
// restarts it, and processed frames flow again on the same page session.
//   node redis-restart.js --video FILE --page URL [--redis-port 6379]
// Needs ./run-webrtc-demo.sh running with its own Redis.
'use strict';
const { execFileSync } = require('child_process');
const { tapper, launchBrowser } = require('./lib');

const argv = process.argv;
const arg = (name, def) => { const i = argv.indexOf(name); return i > 0 ? argv[i + 1] : def; };
const T = tapper('redis restart: ');
const PORT = arg('--redis-port', '6379');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function redisPid() {
  try {
    const info = execFileSync('redis-cli', ['-p', PORT, 'INFO', 'server'], { encoding: 'utf8', timeout: 2000 });
    const m = /process_id:(\d+)/.exec(info);
    return m ? Number(m[1]) : 0;
  } catch (e) {
    return 0;
  }
}

async function waitFor(what, ms, fn) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) { T.log(`gave up waiting for ${what} after ${ms} ms`); return v; }
    await sleep(200);
  }
}

(async () => {
  const browser = await launchBrowser(arg('--video'));
  try {
    const page = await browser.newPage();
    await page.goto(arg('--page') + '?autostart=1&effect=invert');
    await page.waitForFunction(() => window.ooblexDemo && window.ooblexDemo.frames > 5, null, { timeout: 30000 });
    const frames = () => page.evaluate(() => window.ooblexDemo.frames);
    const clientId = await page.evaluate(() => window.ooblexDemo.client.clientId);
    const before = await frames();
    await sleep(2000);
    T.ok((await frames()) > before, 'processed frames flow before', `${before} -> ${await frames()}`);

    const pid = redisPid();
    T.ok(pid > 0, "the demo's Redis runs", `pid ${pid}`);
    process.kill(pid, 'SIGKILL');
    const atKill = await frames();
    T.log(`killed Redis pid ${pid} at ${atKill} processed frames`);
    const newPid = await waitFor('a new Redis', 30000, () => { const p = redisPid(); return p && p !== pid ? p : 0; });
    T.ok(newPid > 0 && newPid !== pid, 'the demo starts a new Redis', `old ${pid}, new ${newPid}`);
    const atRestart = await frames();
    const flowing = await waitFor('frames after the restart', 30000, async () => (await frames()) >= atRestart + 10);
    const after = await page.evaluate(() => ({ id: window.ooblexDemo.client.clientId, frames: window.ooblexDemo.frames,
      errors: window.ooblexDemo.errors }));
    T.ok(flowing, 'processed frames flow again after the restart', `${atKill} at the kill, ${atRestart} at the restart, ${after.frames} now`);
    T.ok(after.id === clientId, 'on the same page session', `${clientId} -> ${after.id}`);
    if (after.errors.length) T.log('page errors: ' + JSON.stringify(after.errors));
  } finally {
    await browser.close();
  }
  process.exit(T.failures ? 1 : 0);
})().catch((e) => { console.log('not ok - redis restart: ' + (e && e.stack || e)); process.exit(1); });
