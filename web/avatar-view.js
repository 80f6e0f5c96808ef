// The drawing half of <mien-avatar>: the three.js Face on its canvas, the frame buffer between socket and
// screen, the render loop, and the snapshot of the frame shown (`blendshapes`, `head`, `frameSeq`). Knows no
// protocol beyond the channel names of a hello. Honours prefers-reduced-motion by damping head turns.

import { Face } from "./face.js";
import { FrameBuffer } from "./frames.js";

/**
 * The element's shadow DOM: the stage with its canvas and the head's loading progress (a progressbar,
 * hidden once loaded; an error line when the load fails), and a notice line (loading, reconnecting).
 */
export const TEMPLATE = document.createElement("template");
TEMPLATE.innerHTML = `
  <style>
    :host { display: block; position: relative; aspect-ratio: 4 / 5; min-height: 160px; contain: content; }
    :host([hidden]) { display: none; }
    canvas { display: block; width: 100%; height: 100%; outline: none; }
    .stage { position: absolute; inset: 0; }
    .notice {
      position: absolute; inset: auto 0 1rem 0; margin: auto; width: max-content; max-width: 90%;
      padding: .35rem .8rem; border-radius: 999px; font: 500 .85rem/1.3 system-ui, sans-serif;
      color: #e9e4df; background: rgb(20 18 17 / .6); backdrop-filter: blur(6px);
    }
    .notice:empty { display: none; }
    .head-loading {
      position: absolute; inset: auto 15% 50% 15%; display: grid; gap: .5rem; justify-items: center;
      font: 500 .85rem/1.3 system-ui, sans-serif; color: #e9e4df;
    }
    .head-loading[hidden], .head-loading [hidden] { display: none; }
    .head-progress {
      width: 100%; height: .4rem; border-radius: 999px; background: rgb(20 18 17 / .45); overflow: hidden;
    }
    .head-progress > span {
      display: block; height: 100%; width: var(--done, 0%); background: #d9a27e; transition: width .2s;
    }
    /* No length from the server: a sliding segment instead of a fill. */
    .head-progress:not([aria-valuenow]) > span {
      width: 30%; animation: slide 1.2s ease-in-out infinite alternate;
    }
    @keyframes slide { to { margin-left: 70%; } }
    @media (prefers-reduced-motion: reduce) {
      .head-progress > span { transition: none; animation: none !important; }
    }
    .head-error { margin: 0; padding: .35rem .8rem; border-radius: .5rem; background: rgb(120 30 20 / .75); }
  </style>
  <div class="stage" part="stage">
    <canvas part="canvas" role="img" aria-label="Mien's face"></canvas>
    <div class="head-loading" part="loading" hidden>
      <div class="head-progress" part="progress" role="progressbar" aria-label="Loading the face"
           aria-valuemin="0" aria-valuemax="100"><span></span></div>
      <p class="head-error" part="load-error" role="alert" hidden></p>
    </div>
  </div>
  <div class="notice" part="notice" role="status"></div>
`;

/** Under prefers-reduced-motion the head turns this fraction of what the frames say (expressions stay). */
export const REDUCED_HEAD_MOTION = 0.3;

export class AvatarView {
  #stage;
  #canvas;
  #face = null;
  #frames = new FrameBuffer();
  #names = null; // {blendshapes, channels} of the session
  #blendshapes = Object.freeze({});
  #head = Object.freeze({});
  #frameSeq = -1;
  #frameTMs = -1;
  #raf = 0;
  #resizeObserver = null;
  #modelUrl = null; // the head loaded or loading
  #loadToken = 0; // counts load() calls: a load whose token is no longer the latest was superseded
  #loaded = false;
  #scratch = new Float32Array(0);
  #loading; // the progress block on the stage
  #onScreen = false;
  #waitVisible = null;
  #reducedMotion = globalThis.matchMedia?.("(prefers-reduced-motion: reduce)") ?? null;

  constructor(stage, canvas) {
    this.#stage = stage;
    this.#canvas = canvas;
    this.#loading = stage.querySelector(".head-loading");
  }

  get blendshapes() {
    return this.#blendshapes;
  }

  get head() {
    return this.#head;
  }

  get frameSeq() {
    return this.#frameSeq;
  }

  /** t_ms of the latest frame shown (-1 before any). */
  get frameTMs() {
    return this.#frameTMs;
  }

  /** The playout delay (ms) of the frame buffer: 0 shows the newest frame at once. */
  get delayMs() {
    return this.#frames.delayMs;
  }

  set delayMs(ms) {
    this.#frames.delayMs = ms;
  }

  /** A clock the frames follow instead of their own (the voice while it plays): () => ms or null. */
  clock = null;

  /** A t_ms the frames must not pass (audio not ready yet): () => ms or null. */
  hold = null;

  /** Called with (tMs, nowMs) when a frame is shown. */
  onshow = null;

  /** When (performance.now()) the face shows frame time `tMs`, by the frames' own clock; null if unknown. */
  perfAt(tMs) {
    const now = performance.now();
    const face = this.#frames.faceMs(now);
    return face === null ? null : now + (tMs - face);
  }

  /** True once the head at `modelUrl` is loaded. */
  get loaded() {
    return this.#loaded;
  }

  get modelUrl() {
    return this.#modelUrl;
  }

  get hasFace() {
    return this.#face !== null;
  }

  /** The share of the head's motion drawn: 1, or REDUCED_HEAD_MOTION under prefers-reduced-motion. */
  get headMotion() {
    return this.#reducedMotion?.matches ? REDUCED_HEAD_MOTION : 1;
  }

  /**
   * Start the loop (again). Throws when WebGL is unavailable (the first time only); the loop still runs then,
   * so `blendshapes` keep following the frames for a page that draws them itself.
   */
  start() {
    cancelAnimationFrame(this.#raf);
    this.#raf = requestAnimationFrame((t) => this.#tick(t));
    if (this.#resizeObserver) {
      this.#resizeObserver.observe(this.#stage);
      return;
    }
    this.#resizeObserver = new ResizeObserver(([entry]) => {
      const { width, height } = entry.contentRect;
      this.#face?.resize(Math.round(width), Math.round(height));
    });
    this.#face = new Face(this.#canvas);
    this.#resizeObserver.observe(this.#stage);
  }

  stop() {
    cancelAnimationFrame(this.#raf);
    this.#resizeObserver?.disconnect();
  }

  /**
   * Load the head at `url`: true when it is the current head, false when another load superseded it.
   * Lazily: the download starts once the stage is on screen (or within 200 px of it). Its progress shows
   * on the stage as a progressbar; a failure shows there.
   */
  async load(url) {
    if (!this.#face) throw new Error("no WebGL");
    // Each call supersedes the ones before, even for the same URL: only the latest may touch the scene.
    const token = ++this.#loadToken;
    const current = () => token === this.#loadToken;
    this.#modelUrl = url;
    this.#loaded = false;
    this.#setProgress(0, 0);
    try {
      await this.#visible();
      if (!current()) return false;
      const progress = (loaded, total) => current() && this.#setProgress(loaded, total);
      if (!(await this.#face.load(url, progress, current))) return false;
    } catch (err) {
      if (!current()) return false;
      this.#loadFailed(err);
      throw err;
    }
    if (!current()) return false;
    this.#loaded = true;
    this.#loading.hidden = true;
    return true;
  }

  /** Resolves once the stage is (nearly) on screen: the GLB is the page's biggest download. */
  #visible() {
    if (this.#onScreen || typeof IntersectionObserver === "undefined") return Promise.resolve();
    this.#waitVisible ??= new Promise((resolve) => {
      const observer = new IntersectionObserver(
        (entries) => {
          if (!entries.some((e) => e.isIntersecting)) return;
          observer.disconnect();
          this.#onScreen = true;
          resolve();
        },
        { rootMargin: "200px" },
      );
      observer.observe(this.#stage);
    });
    return this.#waitVisible;
  }

  #setProgress(loaded, total) {
    const percent = total > 0 ? Math.min(100, Math.round((100 * loaded) / total)) : null;
    const bar = this.#loading.querySelector(".head-progress");
    this.#loading.hidden = false;
    bar.hidden = false;
    this.#loading.querySelector(".head-error").hidden = true;
    if (percent === null) {
      bar.removeAttribute("aria-valuenow"); // indeterminate: the server sent no length
      bar.removeAttribute("aria-valuetext");
    } else {
      bar.setAttribute("aria-valuenow", String(percent));
      bar.setAttribute("aria-valuetext", `${percent}%`);
      bar.style.setProperty("--done", `${percent}%`);
    }
  }

  #loadFailed(err) {
    this.#loading.hidden = false;
    this.#loading.querySelector(".head-progress").hidden = true;
    const line = this.#loading.querySelector(".head-error");
    line.textContent = `The face could not be loaded (${err?.message ?? err}).`;
    line.hidden = false;
  }

  /** A new session: its channel names, every channel back to 0. Returns the shapes the head lacks (once). */
  reset(hello) {
    this.#names = { blendshapes: hello.blendshapes, channels: hello.channels };
    this.#frames.reset(hello.blendshapes.length + hello.channels.length);
    return this.bind();
  }

  /** Map the session's channels onto the loaded head; returns the blendshapes it has no morph for (once). */
  bind() {
    if (!this.#loaded || !this.#names || !this.#face) return [];
    return this.#face.bind(this.#names.blendshapes, this.#names.channels);
  }

  /** A decoded frame arrived. */
  push(seq, tMs, values) {
    this.#frames.push(seq, tMs, values);
  }

  /** One animation frame: take the face to show now from the frame buffer, apply it, draw. */
  #tick(now) {
    this.#raf = requestAnimationFrame((t) => this.#tick(t));
    const frame = this.#frames.sample(now, this.clock?.(now) ?? null, this.hold?.() ?? null);
    if (frame && this.#names) {
      this.#face?.apply(this.#calm(frame.values));
      this.#publish(frame);
      this.onshow?.(frame.tMs, now);
    }
    this.#face?.render();
  }

  /** The channels to draw: under prefers-reduced-motion the head turns scaled down; blendshapes as sent. */
  #calm(values) {
    const scale = this.headMotion;
    if (scale === 1) return values;
    if (this.#scratch.length !== values.length) this.#scratch = new Float32Array(values.length);
    this.#scratch.set(values);
    for (let i = this.#names.blendshapes.length; i < values.length; i++) this.#scratch[i] *= scale;
    return this.#scratch;
  }

  /** Snapshot the shown frame (as the server sent it) for the element's read-only properties. */
  #publish({ seq, tMs, values }) {
    const { blendshapes: names, channels } = this.#names;
    const blend = {};
    names.forEach((name, i) => (blend[name] = values[i]));
    const head = {};
    channels.forEach((name, i) => (head[name] = values[names.length + i]));
    this.#blendshapes = Object.freeze(blend);
    this.#head = Object.freeze(head);
    this.#frameSeq = seq;
    this.#frameTMs = tMs;
  }
}
