/*
 * demo.js - the Ooblex demo page: original and processed side by side, with
 * live statistics.
 *
 * URL parameters: ?server=<Janus URL> (repeatable; default ws://host:8188 then
 * http://host:8088/janus), effect=, frame_skip=, codec= (vp8 or h264),
 * output= (datachannel, video, both or metadata: the effect's findings drawn
 * over the page's own video), source= (camera or pattern: the
 * time-stamped test pattern that measures glass-to-glass latency), width= and
 * height= (the camera size to ask for), full_rate=1 (send every camera frame,
 * see ooblex.js' fullRate), autostart=1.
 * The effect picker offers, once started, what the live workers run (listEffects:
 * an effect that needs a model as one entry per model, onnx:<model>). Errors
 * (a refused effect, a worker's frame errors) and fleet health (no live worker
 * runs the effect, and back) are shown above the panes as they come.
 * For tests: window.ooblexDemo holds the client, frame counts per output,
 * the glass-to-glass latencies measured per frame (timed when the processed
 * frame's pixels become readable by the page, on both outputs alike), and the events shown
 * (events: {at, kind: 'error' | 'workers', code, state, message}).
 */
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const q = new URLSearchParams(location.search);
  const servers = q.getAll('server');
  const demo = (window.ooblexDemo = {
    client: null, frames: 0, videoFrames: 0, inputFrames: 0, errors: [], lastMeta: null, pattern: null, boxesDrawn: 0,
    g2g: { datachannel: [], video: [] }, stamps: { datachannel: [], video: [] }, liveWorkers: null,
    events: [], picker: [],
  });

  // Errors and fleet events, newest first, the last 20; the fleet's state in
  // a banner of its own (it stays until the fleet is back).
  function showEvent(ev) {
    ev.at = Date.now();
    demo.events.push(ev);
    const li = document.createElement('li');
    li.className = ev.kind === 'error' ? 'error' : '';
    li.textContent = new Date(ev.at).toLocaleTimeString() + ' · ' + ev.message;
    const list = $('events');
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 20) list.removeChild(list.lastChild);
  }
  function showFleet(state, message) {
    const el = $('fleet');
    el.hidden = false;
    el.className = state;
    el.textContent = message;
  }

  // The picker: what the live workers run. An effect that needs a model is
  // offered once per model a live worker has ("onnx:candy.onnx"), never bare.
  function fillPicker(effects, models) {
    const choices = [];
    for (const e of effects) {
      if (Array.isArray(models[e])) models[e].forEach((m) => choices.push(e + ':' + m));
      else choices.push(e);
    }
    if (!choices.length) return;
    const select = $('effect'), current = select.value;
    select.textContent = '';
    for (const c of choices) select.add(new Option(c, c, false, c === current));
    if (!choices.includes(current)) select.add(new Option(current + ' (no worker)', current, false, true));
    demo.picker = choices;
  }

  if (q.get('effect')) {
    // Any effect string, not only the ones in the list (chains, parameters, ffmpeg: graphs).
    const e = q.get('effect');
    if (![...$('effect').options].some((o) => o.value === e)) $('effect').add(new Option(e, e));
    $('effect').value = e;
  }
  if (q.get('frame_skip')) $('frameskip').value = q.get('frame_skip');
  if (q.get('output')) $('output').value = q.get('output');
  if (q.get('source')) $('source').value = q.get('source');

  const canvas = $('processed');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const setStatus = (text, isError) => {
    $('status').textContent = text;
    $('status').className = isError ? 'error' : '';
  };
  const showPanes = (output) => {
    $('pane-dc').hidden = output === 'video';
    $('pane-video').hidden = output !== 'video' && output !== 'both';
  };
  showPanes($('output').value);

  // The last two seconds of events, for rates and medians.
  const recent = { input: [], dc: [], video: [], stages: [], g2g: { datachannel: [], video: [] } };
  const keep = (list, item) => { list.push(item); const t = performance.now() - 2000; while (list.length && list[0].t < t) list.shift(); };
  const median = (xs) => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
  const rate = (list) => { const t = performance.now() - 2000; return list.filter((e) => e.t >= t).length / 2; };

  // Glass-to-glass: the time stamped in the picture when it was drawn, to
  // `at`, the moment the processed frame's pixels became readable by the page
  // (the same point on every output and in tests/e2e/video.js' echotest
  // floor: see html/js/testpattern.js).
  function measure(output, stamp, at) {
    if (!demo.pattern || stamp === null) return;
    const ms = at - stamp;
    if (ms < 0 || ms > 60000) return;
    demo.g2g[output].push(ms);
    demo.stamps[output].push(stamp);
    keep(recent.g2g[output], { t: performance.now(), g2g: ms });
  }

  // What an effect found, as boxes: every [x, y, w, h, ...] list of numbers
  // (frame pixels) under any effect's key of meta.detections.
  function boxesOf(detections) {
    const boxes = [];
    for (const found of Object.values(detections || {})) {
      if (!Array.isArray(found)) continue;
      for (const b of found) {
        if (Array.isArray(b) && b.length >= 4 && b.slice(0, 4).every((x) => typeof x === 'number')) boxes.push(b);
      }
    }
    return boxes;
  }
  // Draws them; returns how many.
  function drawDetections(detections) {
    const boxes = boxesOf(detections);
    ctx.lineWidth = 3;
    ctx.strokeStyle = '#2ecc40';
    for (const [x, y, w, h] of boxes) ctx.strokeRect(x, y, w, h);
    return boxes.length;
  }

  function watchVideo(el, onFrame) {
    if (!el.requestVideoFrameCallback) return;
    const tick = () => { onFrame(); el.requestVideoFrameCallback(tick); };
    el.requestVideoFrameCallback(tick);
  }
  watchVideo($('local'), () => { demo.inputFrames++; keep(recent.input, { t: performance.now() }); });
  const pv = $('processed-video');
  watchVideo(pv, () => { demo.videoFrames++; keep(recent.video, { t: performance.now() }); });
  let videoWatch = null;
  function watchProcessedTrack(track) {
    if (videoWatch) videoWatch.stop();
    videoWatch = OoblexTestPattern.watchTrack(track, (stamp, at) => measure('video', stamp, at));
  }

  function renderStats() {
    const fmt = (x, unit) => (x === null ? '–' : Math.round(x) + (unit || ''));
    $('s-input').textContent = rate(recent.input).toFixed(0) + ' fps';
    const parts = [];
    const out = demo.client && demo.client.output || $('output').value;
    if (out !== 'video') parts.push(rate(recent.dc).toFixed(0) + ' fps data channel');
    if (out === 'video' || out === 'both') parts.push(rate(recent.video).toFixed(0) + ' fps video');
    $('s-processed').textContent = parts.join(' · ');
    if (demo.pattern) {
      const dc = median(recent.g2g.datachannel.map((e) => e.g2g));
      const v = median(recent.g2g.video.map((e) => e.g2g));
      $('s-g2g').textContent = [dc !== null ? fmt(dc, ' ms (data channel)') : null, v !== null ? fmt(v, ' ms (video)') : null]
        .filter(Boolean).join(' · ') || 'waiting…';
    } else {
      $('s-g2g').textContent = 'choose the test pattern source';
    }
    $('s-workers').textContent = demo.liveWorkers === null ? '–' : String(demo.liveWorkers);
    const st = recent.stages;
    if (st.length) {
      const m = (k) => median(st.map((e) => e[k]));
      const items = [['decode', m('decode')], ['queue', m('queue')], ['worker', m('worker')], ['return', m('ret')],
        ['reorder', m('reorder')], ['to page', m('net')]];
      $('s-stages').innerHTML = items.map(([k, v]) => `<span class="stage">${k} <b>${v === null ? '–' : v.toFixed(1)}</b></span>`).join('');
    }
  }
  setInterval(renderStats, 500);

  function start() {
    $('start').disabled = true;
    setStatus('Connecting…');
    let stream;
    if ($('source').value === 'pattern') {
      demo.pattern = new OoblexTestPattern({ width: 640, height: 480, fps: 30 });
      stream = demo.pattern.stream;
    }
    const output = $('output').value;
    showPanes(output);
    const client = new Ooblex.Client({
      server: servers.length ? servers : undefined,
      effect: $('effect').value,
      frameSkip: Number($('frameskip').value) || 3,
      codec: q.get('codec') || undefined,
      output,
      stream,
      // ?full_rate=1: the camera's every frame goes to the server (no source-side sampling).
      fullRate: q.get('full_rate') === '1',
      // ?width=&height= ask the camera for another size.
      video: q.get('width') ? { width: { ideal: Number(q.get('width')) }, height: { ideal: Number(q.get('height')) || undefined },
        frameRate: { ideal: 30 } } : undefined,
    });
    demo.client = client;
    client.on('localstream', (s) => { $('local').srcObject = s; });
    client.on('videotrack', ({ track, stream: s }) => { pv.srcObject = s; watchProcessedTrack(track); });
    let workersTimer = null;
    const pollWorkers = () => client.listEffects().then((w) => {
      demo.liveWorkers = w.liveWorkers;
      return w;
    });
    client.on('started', (info) => {
      demo.admission = info.admission || null;
      setStatus('Streaming · ' + info.codec + ' · client ' + info.clientId.slice(0, 8) + '…' + (info.admission ?
        ' · degraded start: the workers are busy, every ' + info.admission.frameSkip + 'th frame (asked ' +
        info.admission.frameSkipAsked + ')' : ''), !!info.admission);
      demo.effect = info.effect;
      $('stop').disabled = false;
      // The picker offers what the live workers can do.
      pollWorkers().then((w) => fillPicker(w.effects, w.models)).catch(() => {});
      workersTimer = setInterval(() => pollWorkers().catch(() => {}), 5000);
    });
    // Fleet health from the plugin: lost (no live worker runs the effect,
    // or none is alive; start ooblex-worker) and back.
    client.on('workers', (w) => {
      if (w.state === 'lost') {
        const hint = w.code === 421 ? ' — start ooblex-worker (deploy/scale-workers.sh 3)' : '';
        showFleet('lost', w.message + hint);
        demo.liveWorkers = w.liveWorkers;
        showEvent({ kind: 'workers', state: 'lost', code: w.code, message: w.message });
      } else if (w.state === 'back') {
        showFleet('back', 'Workers are back: ' + w.effect + ' runs again');
        demo.liveWorkers = w.liveWorkers;
        showEvent({ kind: 'workers', state: 'back', message: 'Workers are back: ' + w.effect + ' runs again' });
        pollWorkers().then((l) => fillPicker(l.effects, l.models)).catch(() => {});
      }
    });
    client.on('frame', ({ bitmap, meta, receivedAt }) => {
      const at = OoblexTestPattern.now();   // the JPEG is decoded: its pixels are the page's
      const w = bitmap ? bitmap.width : meta.width, h = bitmap ? bitmap.height : meta.height;
      if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w;
        canvas.height = h;
      }
      if (bitmap) {
        ctx.drawImage(bitmap, 0, 0);
        bitmap.close();
      } else {
        // Output 'metadata': the page's own video, and what the effect found over it.
        ctx.drawImage($('local'), 0, 0, w, h);
        demo.boxesDrawn += drawDetections(meta.detections);
      }
      demo.frames++;
      demo.lastMeta = meta;
      const t = meta.t;
      keep(recent.stages, {
        t: performance.now(),
        decode: (t.queued - t.capture) / 1000, queue: (t.worker_start - t.queued) / 1000,
        worker: (t.worker_end - t.worker_start) / 1000, ret: (t.returned - t.worker_end) / 1000,
        reorder: (t.sent - t.returned) / 1000, net: receivedAt - t.sent / 1000,
      });
      keep(recent.dc, { t: performance.now() });
      // A metadata frame's pixels are the page's own video: nothing processed to time.
      if (demo.pattern && bitmap) measure('datachannel', OoblexTestPattern.readContext(ctx, canvas.width, canvas.height), at);
    });
    client.on('stats', (s) => {
      $('stats').textContent = '· ' + s.fps.toFixed(1) + ' fps · ' +
        (s.avgLatencyMs === null ? '–' : Math.round(s.avgLatencyMs) + ' ms') + ' · ' + s.framesReceived + ' frames';
    });
    client.on('configured', (info) => {
      if (info.output) showPanes(info.output);
      if (info.effect) demo.effect = info.effect;
    });
    client.on('error', (e) => {
      demo.errors.push(e.message);
      setStatus(e.message, true);
      if (e.reason !== 'workers') showEvent({ kind: 'error', code: e.code, message: e.message });
      // A refused configure leaves the session on its effect: so does the picker.
      if ((e.code === 415 || e.code === 420) && demo.effect && [...$('effect').options].some((o) => o.value === demo.effect)) {
        $('effect').value = demo.effect;
      }
    });
    // The plugin holds this client to its share of the workers (or lets it go).
    client.on('fair', (f) => {
      demo.fair = f;
      $('fair').hidden = !f.throttled;
      $('fair').textContent = !f.throttled ? '' : f.reason === 'over_budget' ?
        'Throttled: frames take ' + Math.round(f.frameCostMs) + ' ms, over the ' + f.budgetMs + ' ms budget · 1 in flight' :
        'Throttled to a fair share: ' + f.share.toFixed(2) + ' workers · ' + f.maxInFlight + ' in flight';
    });
    // The latency budget sheds load (or restores it): said in the overlay.
    client.on('latency', (l) => {
      demo.latency = l;
      $('latency').hidden = !l.shedding;
      // A source-sampled browser is asked to send only the frames processed.
      const only = l.sender && l.sender.frameSkip === l.frameSkipEffective ? ', browser sends only those' : '';
      const what = { frame_skip: 'processing every ' + l.frameSkipEffective + ' frames (asked ' + l.frameSkip + ')' + only,
        remb: 'every ' + l.frameSkipEffective + ' frames' + only + ', browser asked for ' + l.rembKbps + ' kbit/s',
        resolution: 'every ' + l.frameSkipEffective + ' frames, browser asked for half the resolution' }[l.step] || '';
      $('latency').textContent = !l.shedding ? '' : 'Over the ' + l.budgetMs + ' ms latency budget (p95 ' +
        Math.round(l.p95Ms) + ' ms): ' + what;
    });
    client.on('sender', (s) => { demo.sender = s; });
    client.on('stopped', () => {
      clearInterval(workersTimer);
      if (videoWatch) { videoWatch.stop(); videoWatch = null; }
      if (demo.pattern) { demo.pattern.stop(); demo.pattern = null; }
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
  $('output').addEventListener('change', () => {
    showPanes($('output').value);
    if (demo.client && demo.client.clientId) demo.client.configure({ output: $('output').value });
  });
  if (q.get('autostart') === '1') start();
}());
