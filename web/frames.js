// Between the socket and the renderer: decoded frames go in as they arrive, and the render loop asks for
// the face to show now. With no playout delay that is simply the newest frame. With a delay (two frame
// periods by default, more while the voice is on) it is a small jitter buffer keyed by t_ms: the newest frame whose t_ms <= the face clock, where the face
// clock is the server's clock (estimated from frame arrivals) minus the delay, or a clock given by the
// caller (the audio, while it plays), so the mouth and the voice share one timeline. Between two queued
// frames the face is interpolated to the clock, so it moves at the display's rate rather than the stream's.

// The default playout delay: two frame periods at 30 fps, so the next frame has (nearly always) arrived when
// the face moves toward it: the face is drawn at the display's rate, between frames, not in 30 fps steps.
export const SMOOTH_DELAY_MS = 66;
const CLOCK_WINDOW = 90; // frames (about 3 s at 30 fps) over which the arrival offset is estimated
const MAX_QUEUED = 120; // frames kept for the jitter buffer
const MAX_HOLD_MS = 1000; // the face waits at most this long for audio that is late

export class FrameBuffer {
  #values;
  #seq = -1;
  #tMs = 0;
  #fresh = false;
  #delayMs = SMOOTH_DELAY_MS;
  #queue = []; // [{seq, tMs, values}] oldest first, only while delayMs > 0
  #offsets = []; // recent (arrival performance.now() - t_ms)
  #mixed = new Float32Array(0); // the shown frame interpolated toward the next queued one
  #alpha = 0; // how far (0..1) toward the next frame the last sample was

  constructor(channelCount = 0) {
    this.#values = new Float32Array(channelCount);
  }

  /** Forget everything (a new session: every channel starts at 0 again). */
  reset(channelCount) {
    this.#values = new Float32Array(channelCount);
    this.#seq = -1;
    this.#tMs = 0;
    this.#fresh = true;
    this.#queue = [];
    this.#offsets = [];
    this.#alpha = 0;
  }

  /** The playout delay in ms (0: show the newest frame at once). */
  get delayMs() {
    return this.#delayMs;
  }

  set delayMs(ms) {
    this.#delayMs = Math.max(0, ms);
  }

  /**
   * The server's clock (ms since its session start) at `nowMs` (performance.now()), estimated from the
   * fastest recent arrival; null before any frame.
   */
  serverMs(nowMs) {
    if (!this.#offsets.length) return null;
    return nowMs - Math.min(...this.#offsets);
  }

  /** The face clock: the server's clock minus the playout delay (what sample() shows at `nowMs`). */
  faceMs(nowMs) {
    const server = this.serverMs(nowMs);
    return server === null ? null : server - this.#delayMs;
  }

  /** A decoded frame arrived (`values` may be reused by the caller, so it is copied). */
  push(seq, tMs, values, nowMs = performance.now()) {
    this.#offsets.push(nowMs - tMs);
    if (this.#offsets.length > CLOCK_WINDOW) this.#offsets.shift();
    if (this.#delayMs > 0) {
      this.#queue.push({ seq, tMs, values: Float32Array.from(values) });
      if (this.#queue.length > MAX_QUEUED) this.#queue.shift();
      return;
    }
    this.#queue.length = 0;
    this.#show(seq, tMs, values);
  }

  #show(seq, tMs, values) {
    if (this.#values.length !== values.length) this.#values = new Float32Array(values.length);
    this.#values.set(values);
    this.#seq = seq;
    this.#tMs = tMs;
    this.#fresh = true;
    this.#alpha = 0;
  }

  /**
   * The frame to show at `nowMs` (performance.now()), or null when nothing changed since the last call.
   * `clockMs` (optional) overrides the face clock (the audio's, while it plays); the face never passes
   * `holdMs` (optional: a sentence whose audio is not ready yet), unless the hold is over a second old.
   * Returned arrays are owned by the buffer: read them, don't keep them.
   */
  sample(nowMs, clockMs = null, holdMs = null) {
    if (this.#queue.length) {
      let face = clockMs ?? this.faceMs(nowMs);
      if (holdMs !== null && face - holdMs < MAX_HOLD_MS) face = Math.min(face, holdMs);
      let due = -1;
      for (let i = 0; i < this.#queue.length && this.#queue[i].tMs <= face; i++) due = i;
      if (this.#delayMs === 0) due = this.#queue.length - 1; // the delay was just removed: catch up
      if (due >= 0) {
        const frame = this.#queue[due];
        this.#queue.splice(0, due + 1);
        this.#show(frame.seq, frame.tMs, frame.values);
      }
      const next = this.#queue[0];
      if (next && this.#delayMs > 0 && this.#seq >= 0 && face > this.#tMs && next.tMs > this.#tMs) {
        const alpha = Math.min(1, (face - this.#tMs) / (next.tMs - this.#tMs));
        if (alpha - this.#alpha > 1e-3) {
          this.#alpha = alpha;
          this.#fresh = true;
        }
      }
    }
    if (!this.#fresh) return null;
    this.#fresh = false;
    return { seq: this.#seq, tMs: this.#tMs, values: this.#alpha > 0 ? this.#lerp() : this.#values };
  }

  /** The shown frame moved `#alpha` of the way to the next queued one (same channels). */
  #lerp() {
    const from = this.#values;
    const to = this.#queue[0].values;
    if (this.#mixed.length !== from.length) this.#mixed = new Float32Array(from.length);
    const a = this.#alpha;
    for (let i = 0; i < from.length; i++) this.#mixed[i] = from[i] + a * (to[i] - from[i]);
    return this.#mixed;
  }
}
