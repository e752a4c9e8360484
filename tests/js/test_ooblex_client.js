// Unit tests of html/js/ooblex.js that need no browser: chunk reassembly and
// the order of 'frame' events. Run: node --test tests/js/
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Client, ChunkAssembler } = require('../../html/js/ooblex.js');

// Builds the chunks of one frame exactly as plugin/egress/dc_chunker.c does.
function chunks(frameId, meta, jpeg, maxMsg = 16384) {
  const metaBytes = Buffer.from(JSON.stringify(meta));
  const whole = Buffer.concat([metaBytes, Buffer.from(jpeg)]);
  const body = maxMsg - 24;
  const count = Math.max(1, Math.ceil(whole.length / body));
  const out = [];
  for (let i = 0; i < count; i++) {
    const slice = whole.subarray(i * body, (i + 1) * body);
    const m = Buffer.alloc(24 + slice.length);
    m.writeUInt8(1, 0); m.writeUInt8(24, 1);
    m.writeUInt16LE(i, 2); m.writeUInt16LE(count, 4); m.writeUInt16LE(metaBytes.length, 6);
    m.writeUInt32LE(whole.length, 8); m.writeUInt32LE(i * body, 12);
    m.writeBigUInt64LE(BigInt(frameId), 16);
    slice.copy(m, 24);
    out.push(m.buffer.slice(m.byteOffset, m.byteOffset + m.length));
  }
  return out;
}

test('a frame split over several chunks is reassembled', () => {
  const a = new ChunkAssembler();
  const jpeg = Buffer.alloc(50000, 7);
  const parts = chunks(42, { frame_id: 42, effect: 'invert' }, jpeg);
  assert.strictEqual(parts.length, 4);
  let done = null;
  for (const p of parts) done = a.push(p) || done;
  assert.ok(done);
  assert.strictEqual(done.frameId, 42);
  assert.strictEqual(done.meta.effect, 'invert');
  assert.deepStrictEqual(Buffer.from(done.jpeg), jpeg);
});

test('a newer frame abandons an older partial one', () => {
  const a = new ChunkAssembler();
  const old = chunks(1, { frame_id: 1 }, Buffer.alloc(40000));
  a.push(old[0]);
  let done = null;
  for (const p of chunks(2, { frame_id: 2 }, Buffer.alloc(100))) done = a.push(p) || done;
  assert.strictEqual(done.frameId, 2);
  assert.strictEqual(a.abandoned, 1);
  assert.strictEqual(a.partial.size, 0);
});

test('malformed chunks are counted, not thrown', () => {
  const a = new ChunkAssembler();
  assert.strictEqual(a.push(new ArrayBuffer(5)), null);
  const bad = chunks(3, {}, Buffer.alloc(10))[0];
  new DataView(bad).setUint8(0, 9);  // unknown version
  assert.strictEqual(a.push(bad), null);
  const lying = chunks(4, {}, Buffer.alloc(10))[0];
  new DataView(lying).setUint32(8, 3, true);  // total smaller than the slice
  assert.strictEqual(a.push(lying), null);
  assert.strictEqual(a.malformed, 3);
});

test("'frame' events keep arrival order even when decodes finish out of order", async () => {
  // Decodes of earlier frames finish later, like a big keyframe followed by small ones.
  let delay = 50;
  global.createImageBitmap = (blob) => new Promise((resolve) => {
    const d = (delay -= 10);
    setTimeout(() => resolve({ size: blob.size, close() {} }), Math.max(d, 0));
  });
  const c = new Client({ server: 'http://x/janus' });
  const seen = [];
  c.on('frame', ({ meta }) => seen.push(meta.frame_id));
  for (const id of [1, 4, 7, 10, 13]) {
    for (const p of chunks(id, { frame_id: id, t: { capture: Date.now() * 1000 } }, Buffer.alloc(20000))) c._onData(p);
  }
  await new Promise((r) => setTimeout(r, 150));
  assert.deepStrictEqual(seen, [1, 4, 7, 10, 13]);
  assert.strictEqual(c.stats.framesReceived, 5);
  assert.strictEqual(c.stats.outOfOrder, 0);
  delete global.createImageBitmap;
});

test("a metadata-only frame (output 'metadata') comes as a 'frame' event without a picture, in order, and is acked", async () => {
  let decodes = 0;
  global.createImageBitmap = () => { decodes++; return new Promise((r) => setTimeout(() => r({ close() {} }), 30)); };
  const c = new Client({ server: 'http://x/janus', output: 'metadata' });
  c.handle = fakeHandle();
  const seen = [];
  c.on('frame', ({ bitmap, jpeg, meta }) => seen.push({ id: meta.frame_id, bitmap, jpeg, faces: meta.detections && meta.detections.faces }));
  // A picture first (sampled before a configure), then two without.
  for (const p of chunks(1, { frame_id: 1 }, Buffer.alloc(2000))) c._onData(p);
  const found = { frame_id: 2, width: 640, height: 480, detections: { faces: [[281, 150, 40, 44, 0.9]] } };
  const parts = chunks(2, found, Buffer.alloc(0));
  assert.strictEqual(parts.length, 1);
  c._onData(parts[0]);
  c._onData(chunks(3, { frame_id: 3, detections: { faces: [] } }, Buffer.alloc(0))[0]);
  await new Promise((r) => setTimeout(r, 80));
  assert.deepStrictEqual(seen.map((f) => f.id), [1, 2, 3]);
  assert.strictEqual(decodes, 1);
  assert.ok(seen[0].bitmap && seen[0].jpeg);
  assert.strictEqual(seen[1].bitmap, null);
  assert.strictEqual(seen[1].jpeg, null);
  assert.deepStrictEqual(seen[1].faces, [[281, 150, 40, 44, 0.9]]);
  assert.strictEqual(c.stats.decodeErrors, 0);
  assert.deepStrictEqual(c.handle.dataSent.map((d) => d.text), ['{"ack":1}', '{"ack":2}', '{"ack":3}']);
  delete global.createImageBitmap;
});

// A stand-in for janus.js's plugin handle: records what the client asks of it.
function fakeHandle(opts = {}) {
  const h = { sent: [], dataSent: [], offers: [] };
  h.send = (req) => {
    h.sent.push(req);
    if (req.message.request === 'list_effects' && req.success) {
      req.success({ effects: opts.effects || [], live_workers: opts.workers || 0, models: opts.models || {} });
    }
  };
  h.data = (d) => h.dataSent.push(d);
  h.createOffer = (o) => { h.offers.push(o); if (o.success) o.success({ type: 'offer', sdp: 'v=0' }); };
  h.handleRemoteJsep = () => {};
  return h;
}

test('every reassembled frame is acked to the plugin', () => {
  global.createImageBitmap = () => Promise.resolve({ close() {} });
  const c = new Client({ server: 'http://x/janus' });
  c.handle = fakeHandle();
  for (const p of chunks(42, { frame_id: 42, t: { capture: Date.now() * 1000 } }, Buffer.alloc(30000))) c._onData(p);
  assert.deepStrictEqual(c.handle.dataSent.map((d) => d.text), ['{"ack":42}']);
  delete global.createImageBitmap;
});

test("the plugin's fleet events become 'workers' and 'error' events", async () => {
  const c = new Client({ server: 'http://x/janus' });
  c.handle = fakeHandle({ workers: 0 });
  c.running = true;
  const errors = [], workers = [];
  c.on('error', (e) => errors.push(e));
  c.on('workers', (w) => workers.push(w));
  let started = null;
  c._startResolve = (info) => { started = info; };
  c._startReject = () => { throw new Error('a fleet event must not fail the start'); };
  c._onMessage({ ooblex: 'event', result: 'started', client_id: 'ab'.repeat(16), effect: 'invert', frame_skip: 3, codec: 'vp8' });
  // As the plugin sends them (docs/api.md, "Fleet health").
  c._onMessage({ ooblex: 'event', workers: 'lost', effect: 'invert', live_workers: 0, error_code: 421,
    error: 'No worker is alive: frames are processed once an ooblex-worker runs' });
  c._onMessage({ ooblex: 'event', workers: 'back', effect: 'invert', live_workers: 1 });
  await new Promise((r) => setTimeout(r, 10));
  clearInterval(c._statsTimer);
  assert.ok(started && c.running);
  assert.deepStrictEqual(workers.map((w) => w.state), ['lost', 'back', 'live']);
  assert.strictEqual(workers[0].code, 421);
  assert.strictEqual(workers[1].liveWorkers, 1);
  assert.strictEqual(workers[2].liveWorkers, 0);
  assert.strictEqual(errors.length, 1);
  assert.strictEqual(errors[0].code, 421);
  assert.match(errors[0].message, /No worker is alive/);
  // A worker's frame error keeps its code and reason.
  c._onMessage({ ooblex: 'event', error: 'unknown effect', error_code: 431, reason: 'unknown_effect', seq: 3 });
  assert.strictEqual(errors[1].code, 431);
  assert.strictEqual(errors[1].reason, 'unknown_effect');
});

test('ICE failure restarts ICE on the same session, and gives up after three tries', async () => {
  const c = new Client({ server: 'http://x/janus' });
  c.handle = fakeHandle({ workers: 1 });
  c.running = true;
  c.clientId = 'cd'.repeat(16);
  const errors = [];
  c.on('error', (e) => errors.push(e.message));
  for (let i = 0; i < 4; i++) c._onIceState('failed');
  await new Promise((r) => setTimeout(r, 10));
  assert.strictEqual(c.handle.offers.length, 3);
  assert.ok(c.handle.offers.every((o) => o.iceRestart === true));
  const restarts = c.handle.sent.filter((s) => s.message.request === 'configure' && s.jsep);
  assert.strictEqual(restarts.length, 3);
  assert.match(errors[0], /ICE failed.*3 restarts/);
  // A connection that comes back resets the count.
  c._onIceState('connected');
  assert.strictEqual(c._iceAttempts, 0);
});

test('a denied camera is reported as such', async () => {
  global.Janus = {};
  global.navigator = { mediaDevices: { getUserMedia: () => Promise.reject(Object.assign(new Error('no'), { name: 'NotAllowedError' })) } };
  const c = new Client({ server: 'http://x/janus' });
  const errors = [];
  c.on('error', (e) => errors.push(e.message));
  await assert.rejects(c.start(), /Camera access was denied/);
  assert.deepStrictEqual(errors, ['Camera access was denied']);
  delete global.Janus;
  delete global.navigator;
});

test("the latency budget's sender request (data channel text) sets maxFramerate and scaleResolutionDownBy", async () => {
  const c = new Client({ server: 'http://x/janus' });
  c.handle = fakeHandle();
  // A video sender as RTCRtpSender has it: a 640x480 camera at 30 fps.
  let params = { encodings: [{}] };
  const sets = [];
  const sender = { track: { kind: 'video', getSettings: () => ({ frameRate: 30, width: 640, height: 480 }) },
    getParameters: () => JSON.parse(JSON.stringify(params)),
    setParameters: (p) => { params = p; sets.push(JSON.parse(JSON.stringify(p.encodings[0]))); return Promise.resolve(); } };
  c.handle.webrtcStuff = { pc: { getSenders: () => [sender] } };
  const events = [];
  c.on('sender', (s) => events.push(s));
  c.on('latency', (l) => events.push(l));
  // Source-sampled at FRAME_SKIP=1, max 640x480: the camera's rate, full size.
  await c._applySampling({ frame_skip: 1, source_sampled: true, max_width: 640, max_height: 480 });
  assert.deepStrictEqual(sets.pop(), { maxFramerate: 30, scaleResolutionDownBy: 1 });
  // The plugin's last frame-skip step, then its resolution step (docs/protocol.md, "Latency budget").
  c._onData('{"ooblex":"sender","frame_skip":10,"scale_resolution_down_by":1,"step":"frame_skip","level":5}');
  await new Promise((r) => setTimeout(r, 5));
  assert.deepStrictEqual(sets.pop(), { maxFramerate: 3, scaleResolutionDownBy: 1 });
  c._onData('{"ooblex":"sender","frame_skip":10,"scale_resolution_down_by":2,"step":"resolution","level":7}');
  await new Promise((r) => setTimeout(r, 5));
  assert.deepStrictEqual(sets.pop(), { maxFramerate: 3, scaleResolutionDownBy: 2 });
  // The same request told again in the page event changes nothing.
  const n = sets.length;
  c._onMessage({ ooblex: 'event', latency: { budget_ms: 150, p95_ms: 140, level: 7, step: 'resolution', frame_skip: 1,
    frame_skip_effective: 10, shedding: true, action: 'shed', sender: { frame_skip: 10, scale_resolution_down_by: 2 } } });
  await new Promise((r) => setTimeout(r, 5));
  assert.strictEqual(sets.length, n);
  // Restored: as source sampling asks again. Garbage is ignored.
  c._onData('{"ooblex":"sender","frame_skip":1,"scale_resolution_down_by":1,"step":"none","level":0}');
  c._onData('not json');
  await new Promise((r) => setTimeout(r, 5));
  assert.deepStrictEqual(sets.pop(), { maxFramerate: 30, scaleResolutionDownBy: 1 });
  assert.strictEqual(c.stats.senderRequests, 3);
  assert.deepStrictEqual(events.filter((e) => e.scaleResolutionDownBy !== undefined).map((e) => [e.frameSkip, e.scaleResolutionDownBy, e.step]),
    [[10, 1, 'frame_skip'], [10, 2, 'resolution'], [1, 1, 'none']]);
  const lat = events.find((e) => e.budgetMs !== undefined);
  assert.ok(lat && lat.shedding && lat.frameSkipEffective === 10 && lat.step === 'resolution');
});
