// Shared pieces of the browser tests: TAP output, the page server, Chromium
// with a fake camera, the Janus Admin and HTTP APIs.
'use strict';
const http = require('http');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const HTML = path.resolve(__dirname, '../../html');

function tapper(label) {
  const t = {
    failures: 0,
    ok(cond, name, ...why) {
      console.log((cond ? 'ok' : 'not ok') + ' - ' + (label || '') + name);
      if (!cond) { t.failures++; for (const w of why) console.log('#   ' + w); }
      return cond;
    },
    log: (...a) => console.log('#', ...a),
  };
  return t;
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png' };
// Serves html/ and, under /javascript/, Debian's janus.js and adapter.js.
function servePage(port) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let file;
    if (url.pathname.startsWith('/javascript/')) file = path.join('/usr/share/javascript', url.pathname.slice(12));
    else file = path.join(HTML, url.pathname === '/' ? 'index.html' : url.pathname);
    file = path.normalize(file);
    if (!file.startsWith(HTML) && !file.startsWith('/usr/share/javascript/')) { res.writeHead(403); return res.end(); }
    fs.readFile(file, (err, body) => {
      if (err) { res.writeHead(404); return res.end('not found'); }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', () => resolve(server)); });
}

// Debian's Chromium, headless, with a fake camera playing `video`.
async function launchBrowser(video, extraArgs = []) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ooblex-e2e-profile-'));
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    ignoreDefaultArgs: true,
    timeout: 30000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--use-file-for-fake-video-capture=' + video, '--remote-debugging-pipe', '--user-data-dir=' + profile,
      ...extraArgs],
  });
  const close = browser.close.bind(browser);
  browser.close = async () => { await close().catch(() => {}); fs.rmSync(profile, { recursive: true, force: true }); };
  return browser;
}

function janusApi(opts) {
  const post = async (url, body) => (await fetch(url, { method: 'POST', body: JSON.stringify(body) })).json();
  const admin = (body, sessionId, handleId) => post(opts.admin + (sessionId ? '/' + sessionId + '/' + handleId : ''),
    Object.assign({ transaction: 'e2e', admin_secret: opts.adminSecret }, body));
  return {
    admin,
    // The plugin's stats of the demo page's session (Admin API handle_info).
    pageStats: async (page) => {
      const ids = await page.evaluate(() => ({ s: window.ooblexDemo.client.janus.getSessionId(), h: window.ooblexDemo.client.handle.getId() }));
      const info = await admin({ janus: 'handle_info' }, ids.s, ids.h);
      return info && info.info && info.info.plugin_specific;
    },
    post: (suffix, body) => post(opts.http + suffix, Object.assign({ transaction: 't' + Math.random() }, body)),
    get: async (suffix) => (await fetch(opts.http + suffix)).json(),
  };
}

module.exports = { tapper, servePage, launchBrowser, janusApi, HTML };
