/*
 * demo.js - the Ooblex demo page: camera and processed output side by side.
 *
 * URL parameters: ?server=<Janus URL> (repeatable; default ws://host:8188 then
 * http://host:8088/janus), effect=, frame_skip=, codec= (vp8 or h264), autostart=1.
 * The running client is exposed as window.ooblexDemo.client for tests.
 */
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const q = new URLSearchParams(location.search);
  const servers = q.getAll('server');
  const demo = (window.ooblexDemo = { client: null, frames: 0, errors: [] });

  if (q.get('effect')) $('effect').value = q.get('effect');
  if (q.get('frame_skip')) $('frameskip').value = q.get('frame_skip');

  const canvas = $('processed');
  const ctx = canvas.getContext('2d');
  const setStatus = (text, isError) => {
    $('status').textContent = text;
    $('status').className = isError ? 'error' : '';
  };

  function start() {
    $('start').disabled = true;
    setStatus('Connecting…');
    const client = new Ooblex.Client({
      server: servers.length ? servers : undefined,
      effect: $('effect').value,
      frameSkip: Number($('frameskip').value) || 3,
      codec: q.get('codec') || undefined,
    });
    demo.client = client;
    client.on('localstream', (stream) => { $('local').srcObject = stream; });
    client.on('started', (info) => {
      setStatus('Streaming · client ' + info.clientId.slice(0, 8) + '…');
      $('stop').disabled = false;
      // The picker offers what the live workers can do.
      client.listEffects().then(({ effects, liveWorkers }) => {
        if (liveWorkers === 0) setStatus('No workers are running: start ooblex-worker', true);
        if (!effects.length) return;
        const select = $('effect'), current = select.value;
        select.textContent = '';
        for (const e of effects) select.add(new Option(e, e, false, e === current));
        if (!effects.includes(current)) select.add(new Option(current + ' (no worker)', current, false, true));
      }).catch(() => {});
    });
    client.on('frame', ({ bitmap, meta }) => {
      if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
      }
      ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
      demo.frames++;
      demo.lastMeta = meta;
    });
    client.on('stats', (s) => {
      $('stats').textContent = '· ' + s.fps.toFixed(1) + ' fps · ' +
        (s.avgLatencyMs === null ? '–' : Math.round(s.avgLatencyMs) + ' ms') + ' · ' + s.framesReceived + ' frames';
    });
    client.on('error', (e) => { demo.errors.push(e.message); setStatus(e.message, true); });
    client.on('stopped', () => {
      setStatus('Stopped');
      $('start').disabled = false;
      $('stop').disabled = true;
    });
    client.start().catch(() => { $('start').disabled = false; });
  }

  $('start').addEventListener('click', start);
  $('stop').addEventListener('click', () => demo.client && demo.client.stop());
  $('effect').addEventListener('change', () => {
    if (demo.client && demo.client.clientId) demo.client.configure({ effect: $('effect').value });
  });
  $('frameskip').addEventListener('change', () => {
    const n = Number($('frameskip').value);
    if (demo.client && demo.client.clientId && n >= 1) demo.client.configure({ frameSkip: n });
  });
  if (q.get('autostart') === '1') start();
}());
