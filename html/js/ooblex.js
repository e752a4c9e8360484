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
 *     output: 'datachannel',   // or 'video' (a real video track) or 'both'
 *   });
 *   client.on('frame', ({ bitmap, meta, latencyMs }) => ctx.drawImage(bitmap, 0, 0));
 *   client.on('videotrack', ({ stream }) => { videoElement.srcObject = stream; });
 *   client.on('error', (err) => console.error(err.message));
 *   await client.start();      // resolves once Janus has accepted the session
 *   client.configure({ effect: 'grayscale' });
 *   const { effects, liveWorkers, models } = await client.listEffects();
 *   client.stop();
 *
 * Events: 'localstream' (MediaStream), 'started' ({clientId, effect, frameSkip, codec, output}),
 * 'frame' ({bitmap, meta, jpeg, receivedAt, latencyMs}: data channel output),
 * 'videotrack' ({track, stream}: video output), 'stats' (once a second),
 * 'workers' (fleet health, {state, effect, liveWorkers, code, message}: state
 * 'live' once after start (with effects and models, as listEffects gives them),
 * 'lost' when the plugin says no live worker runs the session's effect any
 * more, or none is alive (code 420 or 421, also raised as 'error'), 'back'
 * when one does again), 'configured', 'icerestart', 'error' (Error with a
 * message for people, and .code / .reason when the plugin sent them: camera
 * denied, Janus unreachable, an effect no live worker runs (420), workers
 * lost (420, 421), a worker's frame error (431-435, at most one a second per
 * reason), ...), 'stopped'. Methods: start(), stop(), configure({effect, frameSkip, output}),
 * listEffects(), restartIce() (done by itself when ICE fails).
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
        // events), 'video' (a real video track, 'videotrack' event) or 'both'.
        output: o.output || 'datachannel',
        stream: o.stream || null,
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
                output: this.options.output };
              if (this.options.codec) message.codec = this.options.codec;
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
        const info = { clientId: data.client_id, effect: data.effect, frameSkip: data.frame_skip, codec: data.codec,
          output: this.output };
        this._emit('started', info);
        if (this._startResolve) { this._startResolve(info); this._startResolve = null; }
        // What the fleet offers now. Without live workers the plugin says
        // so itself ('workers' lost, code 421), and again when one comes.
        this.listEffects().then((w) => {
          this._emit('workers', Object.assign({ state: 'live', effect: data.effect }, w));
        }).catch(() => {});
      } else if (data.result === 'ok' && jsep && this._restartResolve) {
        this._restartResolve();
        this._restartResolve = null;
        this._emit('configured', { effect: data.effect, frameSkip: data.frame_skip, output: data.output, iceRestart: true });
      } else if (data.result === 'ok') {
        if (data.output) this.output = data.output;
        this._emit('configured', { effect: data.effect, frameSkip: data.frame_skip, output: data.output });
      } else if (data.result === 'done' || data.result === 'stopped') {
        this._stopped();
      }
    }

    _onData(data) {
      if (typeof data === 'string') return;  // control messages, none yet
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
      // chained so that they fire in the order the frames arrived.
      const decoding = createImageBitmap(new Blob([frame.jpeg], { type: 'image/jpeg' }));
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

    /* Changes the effect and/or frame skip while streaming. */
    configure(changes) {
      if (!this.handle) throw new Error('not started');
      const message = { request: 'configure' };
      if (changes.effect !== undefined) message.effect = changes.effect;
      if (changes.frameSkip !== undefined) message.frame_skip = Number(changes.frameSkip);
      if (changes.output !== undefined) message.output = changes.output;
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
