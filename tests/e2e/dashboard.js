// Evaluates every PromQL expression of the Grafana dashboard against a real
// Prometheus (which scraped a real node exporter reading the plugin's and the
// workers' textfiles) over the time the tests ran. A panel passes when each
// of its queries returns at least one series with a number in it, as Grafana
// would draw it.
//   node dashboard.js --prometheus URL --dashboard FILE --since UNIX_SECONDS
'use strict';
const fs = require('fs');
const { argv } = process;
const arg = (name) => { const i = argv.indexOf(name); return i > 0 ? argv[i + 1] : undefined; };
const prom = arg('--prometheus');
const dashboard = JSON.parse(fs.readFileSync(arg('--dashboard'), 'utf8'));
const since = Number(arg('--since'));

let n = 0, failed = 0;
function tap(ok, name, detail) {
  n++;
  if (!ok) failed++;
  console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!ok && detail) console.log(`#   ${detail}`);
}

async function rangeQuery(expr, start, end) {
  const u = new URL('/api/v1/query_range', prom);
  u.searchParams.set('query', expr);
  u.searchParams.set('start', String(start));
  u.searchParams.set('end', String(end));
  u.searchParams.set('step', '1');
  const r = await fetch(u);
  const body = await r.json();
  if (body.status !== 'success') throw new Error(`${body.errorType}: ${body.error}`);
  return body.data.result;
}

(async () => {
  tap(dashboard.title === 'Ooblex Performance', 'the dashboard is "Ooblex Performance"', dashboard.title);
  const end = Date.now() / 1000;
  for (const panel of dashboard.panels) {
    const problems = [];
    for (const t of panel.targets) {
      try {
        const series = await rangeQuery(t.expr, since, end);
        const values = series.flatMap((s) => s.values.map((v) => Number(v[1])).filter(Number.isFinite));
        if (series.length === 0 || values.length === 0) problems.push(`no data: ${t.expr}`);
        else console.log(`#   ${panel.title} [${t.legendFormat}]: ${series.length} series, last ${values[values.length - 1].toPrecision(4)}`);
      } catch (e) {
        problems.push(`${t.expr}: ${e.message}`);
      }
    }
    tap(problems.length === 0, `panel "${panel.title}" has data`, problems.join(' | '));
  }
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log(`not ok - dashboard check: ${e.message}`); process.exit(1); });
