/*
 * testpattern.js - a camera stand-in that lets a page measure glass-to-glass
 * latency: a canvas stream whose every frame carries the moment it was drawn
 * as a machine-readable strip, and a reader for that strip in processed
 * pictures (data channel bitmaps or frames of the processed video track).
 *
 *   const pattern = new OoblexTestPattern({ width: 640, height: 480, fps: 30 });
 *   const client = new Ooblex.Client({ stream: pattern.stream, ... });
 *   // later, on a canvas holding a processed frame:
 *   const stamp = OoblexTestPattern.read(ctx.getImageData(0, 0, w, h));
 *   if (stamp !== null) latencyMs = OoblexTestPattern.now() - stamp;
 *
 * The strip: across the top, 34 cells of 18x24 pixels: a white and a black
 * reference cell, then 32 bits of the drawing time (milliseconds, modulo
 * 2^32) with white = 1. Reading compares each cell with the references, so
 * the stamp survives effects that invert or recolour the picture (invert,
 * grayscale, sepia...) and lossy coding (JPEG, VP8, H.264). Below it, fixed
 * colour patches let tests check processed pixels, and a moving square keeps
 * encoders honest.
 *
 * Where glass-to-glass is timed, on every path alike: the moment the frame's
 * pixels become readable by the page. For a JPEG from the data channel that
 * is when its decode (createImageBitmap) has finished and the 'frame' event
 * hands the bitmap over; for a video track (the processed track, Janus'
 * echotest) it is when the browser's decoder hands the frame to the page, as
 * a VideoFrame from a MediaStreamTrackProcessor (watchTrack below). Painting
 * is left out on purpose: a <video> is painted by the compositor on its own
 * vsync and a canvas on the page's next rendering step, so "shown" adds a
 * different 0-17 ms wait to each path that belongs to the display, not to
 * the pipeline. (Timing a video at requestVideoFrameCallback and a JPEG at
 * decode, as this project once did, made the data channel look faster than
 * echotest; it was not.)
 *
 *   const watch = OoblexTestPattern.watchTrack(track, (stamp, at) => {
 *     if (stamp !== null) latencyMs = at - stamp;
 *   });
 *   watch.stop();
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.OoblexTestPattern = factory();
}(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  const CELL_W = 18, CELL_H = 24, CELLS = 34, STRIP_Y = 4, STRIP_X = 8;
  // Patches: [x, y, w, h, [r, g, b]] below the strip, for pixel checks.
  const PATCHES = [
    [40, 80, 120, 120, [220, 40, 40]],
    [200, 80, 120, 120, [40, 200, 60]],
    [360, 80, 120, 120, [50, 70, 220]],
    [40, 240, 120, 120, [230, 230, 230]],
    [200, 240, 120, 120, [30, 30, 30]],
    [360, 240, 120, 120, [200, 160, 40]],
  ];

  // Milliseconds on a clock shared by everything in the page, modulo 2^32.
  const now = () => Math.floor(performance.timeOrigin + performance.now()) % 4294967296;

  class TestPattern {
    constructor(options) {
      const o = options || {};
      this.width = o.width || 640;
      this.height = o.height || 480;
      this.fps = o.fps || 30;
      this.canvas = document.createElement('canvas');
      this.canvas.width = this.width;
      this.canvas.height = this.height;
      this.ctx = this.canvas.getContext('2d');
      this.n = 0;
      this.draw();
      this.stream = this.canvas.captureStream(this.fps);
      this.timer = setInterval(() => this.draw(), 1000 / this.fps);
    }

    draw() {
      const g = this.ctx, w = this.width, h = this.height;
      g.fillStyle = '#404858';
      g.fillRect(0, 0, w, h);
      for (const [x, y, pw, ph, c] of PATCHES) {
        g.fillStyle = `rgb(${c[0]},${c[1]},${c[2]})`;
        g.fillRect(x, y, pw, ph);
      }
      const s = Math.floor(h / 6), t = (this.n++ * 4) % (w - s);
      g.fillStyle = '#f0c020';
      g.fillRect(t, h - s - 10, s, s);
      TestPattern.stamp(g, now());
    }

    /* Writes stamp (ms, 32 bits) as the strip on a 2D context. */
    static stamp(g, ms) {
      g.fillStyle = '#000';
      g.fillRect(STRIP_X - 4, STRIP_Y - 2, CELLS * CELL_W + 8, CELL_H + 4);
      for (let i = 0; i < CELLS; i++) {
        const bit = i === 0 ? 1 : i === 1 ? 0 : (ms >>> (i - 2)) & 1;
        g.fillStyle = bit ? '#fff' : '#000';
        g.fillRect(STRIP_X + i * CELL_W, STRIP_Y, CELL_W, CELL_H);
      }
    }

    /* The stamp in an ImageData (RGBA) of a processed frame, or null when
     * there is none (the references do not differ enough). The frame may be
     * scaled: cells are found relative to the width of 640. */
    static read(img) {
      const scale = img.width / 640;
      const cell = (i) => {
        const cx = Math.round((STRIP_X + i * CELL_W + CELL_W / 2) * scale), cy = Math.round((STRIP_Y + CELL_H / 2) * scale);
        let sum = 0, n = 0;
        for (let dy = -3; dy <= 3; dy++) {
          for (let dx = -3; dx <= 3; dx++) {
            const o = ((cy + dy) * img.width + cx + dx) * 4;
            sum += img.data[o] * 0.299 + img.data[o + 1] * 0.587 + img.data[o + 2] * 0.114;
            n++;
          }
        }
        return sum / n;
      };
      const one = cell(0), zero = cell(1);
      if (Math.abs(one - zero) < 60) return null;
      let ms = 0;
      for (let i = 0; i < 32; i++) {
        const v = cell(i + 2);
        const bit = Math.abs(v - one) < Math.abs(v - zero) ? 1 : 0;
        ms += bit * 2 ** i;
      }
      return ms;
    }

    /* Calls onFrame(stamp or null, at, {width, height}) for every frame of a
     * video track, at = now() when the decoded frame reached the page (see
     * the header). Returns {stop()}, or null where the browser has no
     * MediaStreamTrackProcessor (then the track's latency is not measured:
     * requestVideoFrameCallback would time another point). */
    static watchTrack(track, onFrame) {
      if (typeof MediaStreamTrackProcessor === 'undefined') return null;
      // A clone: stopping the watch ends the clone, never the caller's track.
      const own = track.clone();
      const reader = new MediaStreamTrackProcessor({ track: own }).readable.getReader();
      const c = document.createElement('canvas');
      const g = c.getContext('2d', { willReadFrequently: true });
      let stopped = false;
      const next = () => reader.read().then(({ value: frame, done }) => {
        if (done) return;
        const at = now();
        if (stopped) { frame.close(); return; }
        const w = frame.displayWidth, h = frame.displayHeight;
        const rows = Math.min(h, Math.ceil(40 * w / 640));
        if (c.width !== w || c.height !== rows) { c.width = w; c.height = rows; }
        g.drawImage(frame, 0, 0, w, h);
        frame.close();
        try { onFrame(TestPattern.read(g.getImageData(0, 0, w, rows)), at, { width: w, height: h }); } catch (e) { /* the caller's */ }
        next();
      }, () => {});
      next();
      return { stop() { stopped = true; reader.cancel().catch(() => {}); own.stop(); } };
    }

    /* The stamp of a picture drawn on a 2D context (the top rows suffice). */
    static readContext(g, w, h) {
      return TestPattern.read(g.getImageData(0, 0, w, Math.min(h, Math.ceil(40 * w / 640))));
    }

    static get patches() { return PATCHES; }
    static now() { return now(); }

    stop() {
      clearInterval(this.timer);
      for (const t of this.stream.getTracks()) t.stop();
    }
  }

  return TestPattern;
}));
