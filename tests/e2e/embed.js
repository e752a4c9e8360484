// The README's embed example, exactly as written there, against the running
// demo: the snippet is saved as a page beside the demo's own (in the folder
// the demo's page server serves, so its relative URLs reach it, and Chromium
// sees a page of the same local origin), the fake camera streams, and the
// canvas must show a processed frame.
//   node embed.js --video FILE --page URL --www DIR [--readme README.md]
// Needs ./run-webrtc-demo.sh running (DIR: its .run/www).
'use strict';
const fs = require('fs');
const path = require('path');
const { tapper, launchBrowser } = require('./lib');

const argv = process.argv;
const arg = (name, def) => { const i = argv.indexOf(name); return i > 0 ? argv[i + 1] : def; };
const T = tapper('embed example: ');

// The first ```html block of the README's "Using the client module" section.
function snippet(readme) {
  const text = fs.readFileSync(readme, 'utf8');
  const at = text.indexOf('## Using the client module in your own page');
  const m = at >= 0 && /```html\n([\s\S]*?)```/.exec(text.slice(at));
  return m ? m[1] : null;
}

(async () => {
  const html = snippet(arg('--readme', path.join(__dirname, '..', '..', 'README.md')));
  if (!T.ok(html !== null, 'the README has the example')) process.exit(1);
  const file = path.join(arg('--www'), 'embed-example.html');
  fs.writeFileSync(file, html);
  const url = new URL('/embed-example.html', arg('--page')).href;
  const browser = await launchBrowser(arg('--video'));
  try {
    const page = await browser.newPage();
    const console_ = [];
    page.on('console', (m) => console_.push(m.type() + ': ' + m.text()));
    const missing = [];
    page.on('response', (r) => { if (r.status() >= 400) missing.push(r.status() + ' ' + r.url()); });
    await page.goto(url, { waitUntil: 'load' });
    T.ok(missing.length === 0, 'every script the example loads is there', ...missing);
    // A processed frame drawn: the canvas is no longer blank.
    let drawn = false;
    for (let i = 0; i < 100 && !drawn; i++) {
      drawn = await page.evaluate(() => {
        const c = document.getElementById('out');
        const d = c && c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        if (!d) return false;
        for (let k = 3; k < d.length; k += 4 * 97) if (d[k] !== 0) return true;
        return false;
      });
      if (!drawn) await new Promise((r) => setTimeout(r, 200));
    }
    const started = console_.find((l) => /client id [0-9a-f]{32}/.test(l));
    T.ok(started, 'the example starts (its "client id" line)', ...console_.slice(-5));
    T.ok(drawn, 'the example shows a processed frame within 20 s', ...console_.slice(-5));
    // The example's own console.warn (its error handler), not Chromium's advice.
    const warned = console_.filter((l) => l.startsWith('warning: ') && !/Canvas2D/.test(l));
    T.ok(warned.length === 0, 'and reports no error', ...warned);
    await page.close();
  } finally {
    await browser.close();
    fs.unlinkSync(file);
  }
  process.exit(T.failures ? 1 : 0);
})().catch((e) => { console.log('not ok - embed example: ran to the end\n#   ' + e.stack); process.exit(1); });
