// Between the socket and the renderer: decoded frames go in as they arrive, and the render loop asks for
// the face to show now. With no playout delay that is simply the newest frame. With a delay (voice on) it
// is a small jitter buffer keyed by t_ms: the newest frame whose t_ms <= the face clock, where the face
// clock is the server's clock (estimated from frame arrivals) minus the delay, or a clock given by the
// caller (the audio, while it plays), so the mouth and the voice share one timeline.

const CLOCK_WINDOW = 90; // frames (about 3 s at 30 fps) over which the arrival offset is estimated
const MAX_QUEUED = 120; // frames kept for the jitter buffer
const MAX_HOLD_MS = 1000; // the face waits at most this long for audio that is late

export class FrameBuffer {
  #values;
  #seq = -1;
  #tMs = 0;
  #fresh = false;
  #delayMs = 0;
  #queue = []; // [{seq, tMs, values}] oldest first, only while delayMs > 0
  #offsets = []; // recent (arrival performance.now() - t_ms)

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
    }
    if (!this.#fresh) return null;
    this.#fresh = false;
    return { seq: this.#seq, tMs: this.#tMs, values: this.#values };
  }
}
