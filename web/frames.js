// Between the socket and the renderer: decoded frames go in as they arrive, and the render loop asks for
// the face to show now. Today that is simply the newest frame. This is the one place a jitter buffer and
// interpolation between frames (by their t_ms) will go, without touching the socket or the renderer.

export class FrameBuffer {
  #values;
  #seq = -1;
  #tMs = 0;
  #fresh = false;

  constructor(channelCount = 0) {
    this.#values = new Float32Array(channelCount);
  }

  /** Forget everything (a new session: every channel starts at 0 again). */
  reset(channelCount) {
    this.#values = new Float32Array(channelCount);
    this.#seq = -1;
    this.#tMs = 0;
    this.#fresh = true;
  }

  /** A decoded frame arrived (`values` may be reused by the caller, so it is copied). */
  push(seq, tMs, values) {
    this.#values.set(values);
    this.#seq = seq;
    this.#tMs = tMs;
    this.#fresh = true;
  }

  /**
   * The frame to show at `_nowMs` (performance.now()), or null when nothing changed since the last call.
   * Returned arrays are owned by the buffer: read them, don't keep them.
   */
  sample(_nowMs) {
    if (!this.#fresh) return null;
    this.#fresh = false;
    return { seq: this.#seq, tMs: this.#tMs, values: this.#values };
  }
}
