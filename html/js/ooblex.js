/*
 * ooblex.js - browser client for the Ooblex Janus plugin (janus.plugin.ooblex).
 *
 * Sends a camera (or any MediaStream you give it) to Janus, and hands you back
 * the processed frames as ImageBitmaps with their metadata. Needs janus.js
 * (Debian: libjs-janus-gateway) and adapter.js loaded first, as globals.
 *
 *   const client = new Ooblex.Client({
 *     server: ['ws://janus.example:8188/', 'http://janus.example:8088/janus'],
 *     effect: 'invert',        // any effect the workers offer
 *     frameSkip: 3,            // process every 3rd frame
 *     codec: 'h264',           // optional: send only this codec ('vp8' or 'h264')
 *     stream: myMediaStream,   // optional: otherwise the camera is opened
 *     output: 'datachannel',   // or 'video' (a real video track), 'both', or 'metadata' (no picture)
 *     fullRate: false,         // optional: true sends every camera frame (see below)
 *     maxWidth: 320,           // optional: the effect needs no more (the server's limit applies too)
 *   });
 *   client.on('frame', ({ bitmap, meta, latencyMs }) => ctx.drawImage(bitmap, 0, 0));
 *   client.on('videotrack', ({ stream }) => { videoElement.srcObject = stream; });
 *   client.on('error', (err) => console.error(err.message));
 *   await client.start();      // resolves once Janus has accepted the session
 *   client.configure({ effect: 'grayscale' });
 *   const { effects, liveWorkers, models } = await client.listEffects();
 *   client.stop();
 *
 * Events: 'localstream' (MediaStream), 'started' ({clientId, effect, frameSkip, codec, output, sourceSampled}),
 * 'frame' ({bitmap, meta, jpeg, receivedAt, latencyMs}: data channel output; with
 * output 'metadata' bitmap and jpeg are null and meta.detections is what the effect found),
 * 'videotrack' ({track, stream}: video output), 'stats' (once a second),
 * 'fair' ({throttled, reason, maxInFlight, frameCostMs, budgetMs, share}: the plugin
 * holds this client to its fair share of the workers, or lets it go; docs/api.md),
 * 'latency' ({budgetMs, p95Ms, level, step, frameSkip, frameSkipEffective, shedding,
 * action, rembKbps, sender}: the plugin's latency budget sheds load or restores it),
 * 'sender' ({frameSkip, scaleResolutionDownBy, step, maxFramerate}: the plugin asked
 * the browser to send less, or as before, and the video sender was set so),
 * 'workers' (fleet health, {state, effect, liveWorkers, code, message}: state
 * 'live' once after start (with effects and models, as listEffects gives them),
 * 'lost' when the plugin says no live worker runs the session's effect any
 * more, or none is alive (code 420 or 421, also raised as 'error'), 'back'
 * when one does again), 'configured', 'icerestart', 'error' (Error with a
 * message for people, and .code / .reason when the plugin sent them: camera
 * denied, Janus unreachable, an effect no live worker runs (420), workers
 * lost (420, 421), a worker's frame error (431-435, at most one a second per
 * reason), ...), 'stopped'. Methods: start(), stop(), configure({effect, frameSkip, output, fullRate, latencyBudgetMs}),
 * listEffects(), restartIce() (done by itself when ICE fails),
 * sendingParameters() (what the video sender is asked for).
 *
 * Source-side sampling (the default): the browser sends only what will be
 * processed, at most the camera's rate / frame_skip (RTCRtpSender
 * maxFramerate) and no larger than the server's max_width x max_height
 * (scaleResolutionDownBy), and the server processes every frame it gets.
 * Re-applied after every configure and ICE restart. fullRate: true (or
 * configure({fullRate: true})) sends every camera frame at full size and lets
 * the server take every frame_skip-th: for users who want the full-rate
 * original at the server. docs/api.md, "Source-side sampling".
 *
 * Wire format of the data channel messages: docs/protocol.md.
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.Ooblex = factory();
}(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  const PLUGIN = 'janus.plugin.ooblex';
  const CHUNK_HEADER_LEN = 24;
  const CHUNK_VERSION = 1;

  /*
   * Reassembles frames from data channel chunks. Chunks of one frame arrive in
   * order (the channel is ordered), but a frame may be abandoned half-way by
   * the server, so a newer frame id discards any older partial frame.
   */
  class ChunkAssembler {
    constructor() {
      this.partial = new Map();   // frameId -> {buf, got, count, metaLen}
      this.malformed = 0;
      this.abandoned = 0;
    }

    /* Returns {frameId, meta, jpeg} when a frame completes, else null. */
    push(arrayBuffer) {
      if (arrayBuffer.byteLength < CHUNK_HEADER_LEN) { this.malformed++; return null; }
      const v = new DataView(arrayBuffer);
      const version = v.getUint8(0), headerLen = v.getUint8(1);
      if (version !== CHUNK_VERSION || headerLen < CHUNK_HEADER_LEN || headerLen > arrayBuffer.byteLength) {
        this.malformed++;
        return null;
      }
      const index = v.getUint16(2, true), count = v.getUint16(4, true), metaLen = v.getUint16(6, true);
      const total = v.getUint32(8, true), offset = v.getUint32(12, true);
      const frameId = Number(v.getBigUint64(16, true));
      const body = new Uint8Array(arrayBuffer, headerLen);
      if (count === 0 || index >= count || offset + body.length > total || metaLen > total) {
        this.malformed++;
        return null;
      }
      let f = this.partial.get(frameId);
      if (!f) {
        for (const id of this.partial.keys()) {
          if (id < frameId) { this.partial.delete(id); this.abandoned++; }
        }
        f = { buf: new Uint8Array(total), got: 0, count, metaLen };
        this.partial.set(frameId, f);
      }
      f.buf.set(body, offset);
      f.got++;
      if (f.got < f.count) return null;
      this.partial.delete(frameId);
      let meta = {};
      try {
        meta = JSON.parse(new TextDecoder().decode(f.buf.subarray(0, f.metaLen)));
      } catch (e) {
        this.malformed++;
        return null;
      }
      return { frameId, meta, jpeg: f.buf.subarray(f.metaLen) };
    }
  }

  class Client {
    constructor(options) {
      const o = options || {};
      const host = typeof location !== 'undefined' ? location.hostname : '127.0.0.1';
      const secure = typeof location !== 'undefined' && location.protocol === 'https:';
      this.options = {
        server: o.server || [(secure ? 'wss://' : 'ws://') + host + (secure ? ':8989/' : ':8188/'),
          (secure ? 'https://' : 'http://') + host + (secure ? ':8089/janus' : ':8088/janus')],
        iceServers: o.iceServers || [],
        effect: o.effect || 'invert',
        frameSkip: o.frameSkip || 3,
        codec: o.codec || null,   // 'vp8' or 'h264': offer only that; default: the server's preference
        // Where processed frames come back: 'datachannel' (JPEG + metadata, 'frame'
        // events), 'video' (a real video track, 'videotrack' event), 'both', or
        // 'metadata' ('frame' events without the picture: for effects that detect,
        // meta.detections, e.g. {faces: [[x, y, w, h, score], ...]}, in frame pixels).
        output: o.output || 'datachannel',
        stream: o.stream || null,
        fullRate: !!o.fullRate,
        maxWidth: o.maxWidth || null,
        maxHeight: o.maxHeight || null,
        // ms from a frame's last packet at the server to its result handed to
        // the page; 0 turns it off; null: the server's (latency_budget_ms).
        latencyBudgetMs: o.latencyBudgetMs === undefined ? null : o.latencyBudgetMs,
        video: o.video || { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
        debug: o.debug || false,
      };
      this.listeners = {};
      this.assembler = new ChunkAssembler();
      this.janus = null;
      this.handle = null;
      this.clientId = null;
      this.codec = null;
      this.output = null;
      this.remoteStream = null;
      this.stream = null;
      this.ownsStream = false;
      this.running = false;
      this.stats = { framesReceived: 0, fps: 0, latencyMs: null, avgLatencyMs: null, lastFrameId: null,
        outOfOrder: 0, decodeErrors: 0 };
      this._window = [];
      this._statsTimer = null;
      this._emitChain = Promise.resolve();
    }

    on(event, fn) { (this.listeners[event] = this.listeners[event] || []).push(fn); return this; }
    off(event, fn) { this.listeners[event] = (this.listeners[event] || []).filter((f) => f !== fn); return this; }
    _emit(event, arg) {
      for (const fn of this.listeners[event] || []) {
        try { fn(arg); } catch (e) { console.error('ooblex: ' + event + ' listener threw', e); }
      }
    }
    _fail(message, cause, code, reason) {
      const err = new Error(message);
      if (cause) err.cause = cause;
      if (code !== undefined) err.code = code;
      if (reason !== undefined) err.reason = reason;
      this._emit('error', err);
      return err;
    }

    /* Opens the camera if no stream was given, connects and starts processing. */
    start() {
      if (this.running) return Promise.resolve(this.clientId);
      this.running = true;
      return new Promise((resolve, reject) => {
        const fail = (msg, cause) => { this.running = false; reject(this._fail(msg, cause)); };
        if (typeof Janus === 'undefined') return fail('janus.js is not loaded (libjs-janus-gateway)');
        this._startResolve = resolve;
        this._startReject = fail;
        this._openStream().then(() => {
          Janus.init({
            debug: this.options.debug,
            dependencies: Janus.useDefaultDependencies(),
            callback: () => {
              if (!Janus.isWebrtcSupported()) return fail('This browser has no WebRTC support');
              this.janus = new Janus({
                server: this.options.server,
                iceServers: this.options.iceServers,
                success: () => this._attach(),
                error: (e) => fail('Cannot reach Janus at ' + [].concat(this.options.server).join(' or ') + ': ' + e),
                destroyed: () => this._stopped(),
              });
            },
          });
        }, (e) => {
          const denied = e && (e.name === 'NotAllowedError' || e.name === 'SecurityError');
          fail(denied ? 'Camera access was denied' : 'Cannot open the camera: ' + (e && e.message || e), e);
        });
      });
    }

    _openStream() {
      if (this.options.stream) {
        this.stream = this.options.stream;
        this._emit('localstream', this.stream);
        return Promise.resolve(this.stream);
      }
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        return Promise.reject(new Error('getUserMedia is not available (a secure context, https or localhost, is required)'));
      }
      return navigator.mediaDevices.getUserMedia({ video: this.options.video, audio: false }).then((s) => {
        this.stream = s;
        this.ownsStream = true;
        this._emit('localstream', s);
        return s;
      });
    }

    _attach() {
      this.janus.attach({
        plugin: PLUGIN,
        opaqueId: 'ooblex-' + Janus.randomString(12),
        success: (handle) => {
          this.handle = handle;
          const track = this.stream.getVideoTracks()[0];
          if (!track) return this._startReject('The stream has no video track');
          handle.createOffer({
            // dontStop: janus.js would stop the track on hangup; the track's
            // owner decides (we stop the camera we opened, never a caller's stream).
            // recv: the same m-line brings the processed video back when the
            // output is 'video' or 'both' (now, or after a configure).
            tracks: [{ type: 'video', capture: track, recv: true, dontStop: true, codec: this.options.codec || undefined },
              { type: 'data' }],
            success: (jsep) => {
              const message = { request: 'start', effect: this.options.effect, frame_skip: this.options.frameSkip,
                output: this.options.output, source_sampled: !this.options.fullRate };
              if (this.options.codec) message.codec = this.options.codec;
              if (this.options.maxWidth) message.max_width = this.options.maxWidth;
              if (this.options.maxHeight) message.max_height = this.options.maxHeight;
              if (this.options.latencyBudgetMs !== null) message.latency_budget_ms = this.options.latencyBudgetMs;
              handle.send({
                message,
                jsep,
                error: (e) => this._startReject('Janus refused the session: ' + e),
              });
            },
            error: (e) => this._startReject('Cannot create the WebRTC offer: ' + (e && e.message || e)),
          });
        },
        error: (e) => this._startReject('Cannot attach to ' + PLUGIN + ' (is the plugin loaded?): ' + e),
        onmessage: (msg, jsep) => this._onMessage(msg, jsep),
        ondataopen: (label) => {
          const dc = this.handle.webrtcStuff.dataChannel[label];
          if (dc) dc.binaryType = 'arraybuffer';
          // Tells the plugin the channel is open both ways.
          this.handle.data({ text: JSON.stringify({ hello: 'ooblex' }), error: () => {} });
        },
        ondata: (data) => this._onData(data),
        onremotetrack: (track, mid, on) => {
          if (!track || track.kind !== 'video') return;
          if (on) {
            this.remoteStream = new MediaStream([track]);
            this._emit('videotrack', { track, stream: this.remoteStream });
          } else if (this.remoteStream && this.remoteStream.getTracks().includes(track)) {
            this.remoteStream = null;
          }
        },
        iceState: (state) => this._onIceState(state),
        webrtcState: (up, reason) => { if (!up && this.running) this._fail('WebRTC connection closed' + (reason ? ': ' + reason : '')); },
        oncleanup: () => {},
      });
    }

    /* ICE recovery: 'disconnected' for 3 s, or 'failed', starts an ICE
     * restart (a new offer on the same session; processing goes on); after
     * three failed attempts in a row the error is reported. */
    _onIceState(state) {
      this.iceState = state;
      clearTimeout(this._iceTimer);
      if (!this.running || !this.clientId) return;
      if (state === 'connected' || state === 'completed') { this._iceAttempts = 0; return; }
      const restart = () => {
        if (!this.running || this.iceState === 'connected' || this.iceState === 'completed') return;
        if ((this._iceAttempts = (this._iceAttempts || 0) + 1) > 3) {
          this._fail('ICE failed: no network path to Janus (3 restarts tried)');
          return;
        }
        this.restartIce().catch((e) => this._fail('ICE restart failed: ' + e.message));
      };
      if (state === 'failed') restart();
      else if (state === 'disconnected') this._iceTimer = setTimeout(restart, 3000);
    }

    /* Renegotiates with an ICE restart, keeping the session (same client
     * id, effect and output). Resolves when Janus has answered. */
    restartIce() {
      if (!this.handle || !this.clientId) return Promise.reject(new Error('not started'));
      this._emit('icerestart', { attempt: this._iceAttempts || 0 });
      return new Promise((resolve, reject) => {
        this._restartResolve = resolve;
        this.handle.createOffer({
          iceRestart: true,
          success: (jsep) => this.handle.send({ message: { request: 'configure' }, jsep,
            error: (e) => reject(new Error(String(e))) }),
          error: (e) => reject(new Error('cannot create the restart offer: ' + (e && e.message || e))),
        });
      });
    }

    _onMessage(msg, jsep) {
      const data = msg || {};
      // Fleet health, told by the plugin (docs/api.md, "Fleet health"): never a failed start.
      if (data.workers === 'lost' || data.workers === 'back') {
        this._emit('workers', { state: data.workers, effect: data.effect, liveWorkers: data.live_workers,
          code: data.error_code, message: data.error || null });
        if (data.workers === 'lost') this._fail('Ooblex error ' + data.error_code + ': ' + data.error, null, data.error_code, 'workers');
        return null;
      }
      if (data.error) {
        const err = this._fail('Ooblex error ' + data.error_code + ': ' + data.error, null, data.error_code, data.reason);
        if (this._startReject && !this.clientId) { this.running = false; this._startReject = null; }
        return err;
      }
      if (jsep) this.handle.handleRemoteJsep({ jsep, error: (e) => this._fail('Bad answer from Janus: ' + e) });
      if (data.result === 'started') {
        this.clientId = data.client_id;
        this.codec = data.codec;
        this.output = data.output || 'datachannel';
        this._startStats();
        this._applySampling(data);
        const info = { clientId: data.client_id, effect: data.effect, frameSkip: data.frame_skip, codec: data.codec,
          output: this.output, sourceSampled: !!data.source_sampled };
        // A degraded start (the fleet is full): frame_skip raised, and why.
        if (data.admission) info.admission = { result: data.admission.result, reason: data.admission.reason,
          frameSkipAsked: data.admission.frame_skip_asked, frameSkip: data.admission.frame_skip };
        this._emit('started', info);
        if (this._startResolve) { this._startResolve(info); this._startResolve = null; }
        // What the fleet offers now. Without live workers the plugin says
        // so itself ('workers' lost, code 421), and again when one comes.
        this.listEffects().then((w) => {
          this._emit('workers', Object.assign({ state: 'live', effect: data.effect }, w));
        }).catch(() => {});
      } else if (data.result === 'ok' && jsep && this._restartResolve) {
        this._applySampling(data);
        this._restartResolve();
        this._restartResolve = null;
        this._emit('configured', { effect: data.effect, frameSkip: data.frame_skip, output: data.output, iceRestart: true });
      } else if (data.result === 'ok') {
        if (data.output) this.output = data.output;
        this._applySampling(data);
        this._emit('configured', { effect: data.effect, frameSkip: data.frame_skip, output: data.output,
          sourceSampled: !!data.source_sampled });
      } else if (data.result === 'done' || data.result === 'stopped') {
        this._stopped();
      } else if (data.latency) {
        // The latency budget (docs/api.md, "Latency budget"): the machine
        // sheds load, or restores it; the sender's part comes over the data
        // channel too, and is applied from either (the same values twice
        // change nothing).
        const l = data.latency;
        this.latency = { budgetMs: l.budget_ms, p95Ms: l.p95_ms, level: l.level, step: l.step,
          frameSkip: l.frame_skip, frameSkipEffective: l.frame_skip_effective, shedding: !!l.shedding,
          action: l.action, rembKbps: l.remb_kbps || 0, sender: l.sender ? { frameSkip: l.sender.frame_skip,
            scaleResolutionDownBy: l.sender.scale_resolution_down_by } : null };
        this._emit('latency', Object.assign({}, this.latency));
        if (l.sender) this._applySender(Object.assign({ step: l.step }, l.sender));
      } else if (data.fair) {
        const f = data.fair;
        this.fair = { throttled: !!f.throttled, reason: f.reason, maxInFlight: f.max_in_flight,
          frameCostMs: f.frame_cost_ms, budgetMs: f.budget_ms, share: f.share };
        this._emit('fair', Object.assign({}, this.fair));
      }
    }

    /* Source-side sampling: asks the video sender for what the server said it
     * will process (a started or configure answer: frame_skip, source_sampled,
     * max_width, max_height). Full rate: no limits. */
    _applySampling(answer) {
      if (answer.frame_skip !== undefined) this._sampling = {
        frameSkip: answer.frame_skip, sourceSampled: !!answer.source_sampled,
        maxWidth: answer.max_width || 0, maxHeight: answer.max_height || 0 };
      const sp = this._sampling;
      // What the plugin's latency budget asks on top (its framerate and
      // resolution steps): never more than source sampling asks.
      const ls = this._sender || { frameSkip: 1, scale: 1 };
      const pc = this.handle && this.handle.webrtcStuff && this.handle.webrtcStuff.pc;
      const sender = pc && pc.getSenders().find((x) => x.track && x.track.kind === 'video');
      if (!sp || !sender) return Promise.resolve(null);
      const set = sender.track.getSettings ? sender.track.getSettings() : {};
      const cameraFps = set.frameRate || 30;
      const w = set.width || 0, h = set.height || 0;
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) return Promise.resolve(null);
      for (const e of params.encodings) {
        if (sp.sourceSampled) {
          e.maxFramerate = cameraFps / Math.max(sp.frameSkip, ls.frameSkip);
          e.scaleResolutionDownBy = Math.max(1, sp.maxWidth && w ? w / sp.maxWidth : 1, sp.maxHeight && h ? h / sp.maxHeight : 1) *
            ls.scale;
        } else {
          delete e.maxFramerate;
          e.scaleResolutionDownBy = 1;
        }
      }
      this._sendingParameters = { sourceSampled: sp.sourceSampled, maxFramerate: params.encodings[0].maxFramerate || null,
        scaleResolutionDownBy: params.encodings[0].scaleResolutionDownBy, cameraFps, width: w, height: h,
        latencyFrameSkip: ls.frameSkip, latencyScale: ls.scale };
      return sender.setParameters(params).then(() => this._sendingParameters,
        (e) => { this._fail('Cannot limit what the camera sends: ' + (e && e.message || e)); return null; });
    }

    /* The plugin's latency budget asks the browser to send less, or as
     * before ({frame_skip, scale_resolution_down_by}: send at most the
     * camera rate / frame_skip, scaled down by that much more). Applied to
     * source-sampled sessions only, as the plugin asks only those. */
    _applySender(m) {
      const frameSkip = Math.max(1, Number(m.frame_skip) || 1), scale = Math.max(1, Number(m.scale_resolution_down_by) || 1);
      const same = this._sender && this._sender.frameSkip === frameSkip && this._sender.scale === scale;
      this._sender = { frameSkip, scale };
      if (same) return Promise.resolve(this._sendingParameters || null);
      return this._applySampling({}).then((p) => {
        this._emit('sender', { frameSkip, scaleResolutionDownBy: scale, step: m.step || null,
          maxFramerate: p ? p.maxFramerate : null });
        return p;
      });
    }

    /* What the video sender was last asked for (source-side sampling), or null. */
    sendingParameters() { return this._sendingParameters || null; }

    _onData(data) {
      if (typeof data === 'string') {
        // Control messages: the latency budget's sender request.
        let m = null;
        try { m = JSON.parse(data); } catch (e) { return; }
        if (m && m.ooblex === 'sender') {
          this.stats.senderRequests = (this.stats.senderRequests || 0) + 1;
          this._applySender(m);
        }
        return;
      }
      if (typeof Blob !== 'undefined' && data instanceof Blob) {
        data.arrayBuffer().then((b) => this._onData(b));
        return;
      }
      const frame = this.assembler.push(data);
      if (!frame) return;
      // Tells the plugin this frame got here: it sends only a few frames
      // ahead of the acks, dropping whole frames (the newest wins) when the
      // page or the link falls behind, instead of queueing without end.
      try { this.handle.data({ text: '{"ack":' + frame.frameId + '}', error: () => {} }); } catch (e) { /* closing */ }
      const receivedAt = Date.now();
      const meta = frame.meta;
      const latencyMs = meta.t && meta.t.capture ? receivedAt - meta.t.capture / 1000 : null;
      const s = this.stats;
      if (s.lastFrameId !== null && frame.frameId <= s.lastFrameId) s.outOfOrder++;
      s.lastFrameId = frame.frameId;
      s.framesReceived++;
      s.latencyMs = latencyMs;
      this._window.push({ t: receivedAt, latencyMs });
      // Decodes run in parallel but may finish in any order: events are
      // chained so that they fire in the order the frames arrived. A frame
      // without a picture (output 'metadata': what the effect found, drawn
      // by the page over its own video) has bitmap and jpeg null.
      const decoding = frame.jpeg.length ? createImageBitmap(new Blob([frame.jpeg], { type: 'image/jpeg' })) :
        Promise.resolve(null);
      if (!frame.jpeg.length) frame.jpeg = null;
      this._emitChain = this._emitChain.then(() => decoding).then((bitmap) => {
        this._emit('frame', { bitmap, meta, jpeg: frame.jpeg, receivedAt, latencyMs });
      }, () => { s.decodeErrors++; });
    }

    _startStats() {
      clearInterval(this._statsTimer);
      this._statsTimer = setInterval(() => {
        const now = Date.now();
        this._window = this._window.filter((w) => now - w.t <= 2000);
        const lat = this._window.map((w) => w.latencyMs).filter((x) => x !== null);
        this.stats.fps = this._window.length / 2;
        this.stats.avgLatencyMs = lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : null;
        this._emit('stats', Object.assign({}, this.stats));
      }, 1000);
    }

    /* The effects the live workers offer: resolves to {effects, liveWorkers,
     * models}; models maps an effect that needs one to the model names live
     * workers have ({onnx: ['a.onnx']}: ask for 'onnx:a.onnx', never a bare 'onnx'). */
    listEffects() {
      return new Promise((resolve, reject) => {
        if (!this.handle) return reject(new Error('not started'));
        this.handle.send({
          message: { request: 'list_effects' },
          success: (r) => resolve({ effects: (r && r.effects) || [], liveWorkers: (r && r.live_workers) || 0,
            models: (r && r.models) || {} }),
          error: (e) => reject(new Error('list_effects failed: ' + e)),
        });
      });
    }

    /* Changes the effect, frame skip, output and/or fullRate while streaming;
     * the sender follows the answer (source-side sampling). */
    configure(changes) {
      if (!this.handle) throw new Error('not started');
      const message = { request: 'configure' };
      if (changes.effect !== undefined) message.effect = changes.effect;
      if (changes.frameSkip !== undefined) message.frame_skip = Number(changes.frameSkip);
      if (changes.output !== undefined) message.output = changes.output;
      if (changes.fullRate !== undefined) message.source_sampled = !changes.fullRate;
      if (changes.latencyBudgetMs !== undefined) message.latency_budget_ms = Number(changes.latencyBudgetMs);
      this.handle.send({ message, error: (e) => this._fail('configure failed: ' + e) });
    }

    /* Stops processing, closes the connection and, if we opened it, the camera. */
    stop() {
      if (!this.running) return;
      this.running = false;
      if (this.handle) {
        try { this.handle.send({ message: { request: 'stop' } }); } catch (e) { /* closing anyway */ }
      }
      if (this.janus) this.janus.destroy({ cleanupHandles: true });
      this._stopped();
    }

    _stopped() {
      clearInterval(this._statsTimer);
      this._statsTimer = null;
      if (this.ownsStream && this.stream) this.stream.getTracks().forEach((t) => t.stop());
      const wasStarted = this.clientId !== null;
      this.handle = null;
      this.janus = null;
      this.clientId = null;
      this.running = false;
      if (wasStarted) this._emit('stopped');
    }
  }

  return { Client, ChunkAssembler, PLUGIN };
}));
