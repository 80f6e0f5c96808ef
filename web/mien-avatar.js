// <mien-avatar>: Mien's face and its session in one element. It connects to a Mien server, renders the head,
// applies the streamed blendshape frames, and re-announces the conversation as DOM events, so a page (Mien's
// own, or an embedding site) builds its chat and controls around it. API: docs/element.md.

import { Face } from "./face.js";
import { FrameBuffer } from "./frames.js";
import { MienConnection, httpBase, socketUrl } from "./protocol.js";

const TEMPLATE = document.createElement("template");
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
  </style>
  <div class="stage" part="stage"><canvas part="canvas" role="img" aria-label="Mien's face"></canvas></div>
  <div class="notice" part="notice" role="status"></div>
`;

/** Element-level states besides the server's idle / listening / thinking / speaking. */
const CONNECTING = "connecting";
const OFFLINE = "offline";

export class MienAvatar extends HTMLElement {
  static observedAttributes = ["server", "model"];

  #connection = null;
  #face = null;
  #frames = new FrameBuffer();
  #hello = null;
  #state = CONNECTING;
  #blendshapes = Object.freeze({});
  #head = Object.freeze({});
  #frameSeq = -1;
  #modelLoaded = false;
  #isReady = false;
  #resolveReady;
  #ready = new Promise((resolve) => (this.#resolveReady = resolve));
  #reply = null; // {replyId, text} while a reply streams
  #raf = 0;
  #resizeObserver = null;
  #notice;
  #onVisibility = () => this.#sendVisibility();

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    root.append(TEMPLATE.content.cloneNode(true));
    this.#notice = root.querySelector(".notice");
  }

  // ------------------------------------------------------------------ lifecycle

  connectedCallback() {
    if (this.#face) this.#resizeObserver.observe(this.shadowRoot.querySelector(".stage"));
    else this.#startFace();
    this.#connect();
    document.addEventListener("visibilitychange", this.#onVisibility);
    this.#raf = requestAnimationFrame((t) => this.#tick(t));
  }

  disconnectedCallback() {
    cancelAnimationFrame(this.#raf);
    document.removeEventListener("visibilitychange", this.#onVisibility);
    this.#resizeObserver?.disconnect();
    this.#abandonReply();
    this.#connection?.close();
    this.#connection = null;
    this.#setState(OFFLINE);
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (!this.isConnected || oldValue === newValue) return;
    if (name === "server") this.#connect();
    if (name === "model" && this.#face) this.#loadModel();
  }

  // ------------------------------------------------------------------ public API

  /** Resolves (with the element) once the session said hello and the head is loaded. */
  get ready() {
    return this.#ready;
  }

  get isReady() {
    return this.#isReady;
  }

  /** The server's hello (names, fps, limits), or null before the session opened. */
  get hello() {
    return this.#hello;
  }

  /** Emotion names the server knows, in its order. */
  get emotions() {
    return this.#hello ? [...this.#hello.emotions] : [];
  }

  /** connecting | idle | listening | thinking | speaking | offline */
  get state() {
    return this.#state;
  }

  /** ARKit name -> weight (0..1) of the latest frame shown. */
  get blendshapes() {
    return this.#blendshapes;
  }

  /** Head channel name (headYaw, headPitch, headRoll) -> radians, of the latest frame shown. */
  get head() {
    return this.#head;
  }

  /** Sequence number of the latest frame shown (-1 before any). */
  get frameSeq() {
    return this.#frameSeq;
  }

  /** The reply in progress as {replyId, text}, or null. */
  get reply() {
    return this.#reply ? { ...this.#reply } : null;
  }

  /** A user's chat message: the model replies (interrupting any reply in progress). */
  send(text) {
    return this.#sendUser("user_message", text);
  }

  /** A scripted line, spoken as written; inline tags like "[joy] Hi!" cue emotions. No model is called. */
  speak(text) {
    return this.#sendUser("speak", text);
  }

  /** Pose `emotion` at `intensity` (0..1) for `hold` seconds. Out-of-range input gets an `error` event. */
  setEmotion(emotion, intensity = 1, hold = undefined) {
    const message = { type: "set_emotion", emotion, intensity };
    if (hold !== undefined) message.hold = hold;
    return this.#send(message);
  }

  /** Per-emotion gain: 0 suppresses, 1 as cued, 2 amplifies. */
  setGain(emotion, gain) {
    return this.#send({ type: "set_gain", emotion, gain });
  }

  /** Scales every emotion (0 deadpan .. 1 default .. 2 theatrical). */
  setExpressiveness(value) {
    return this.#send({ type: "set_expressiveness", value });
  }

  /** Interrupt the reply in progress. */
  stop() {
    return this.#send({ type: "stop" });
  }

  /** The user is composing a message (the server answers with state `listening`). */
  setTyping(active) {
    return this.#send({ type: "typing", active: Boolean(active) }, { queue: false });
  }

  // ------------------------------------------------------------------ internals

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  #send(message, options) {
    return this.#connection?.send(message, options) ?? false;
  }

  #sendUser(type, text) {
    const sent = this.#send({ type, text });
    if (sent) this.#emit("usermessage", { text, scripted: type === "speak" });
    return sent;
  }

  #sendVisibility() {
    this.#send({ type: "visibility", hidden: document.visibilityState === "hidden" }, { queue: false });
  }

  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.#emit("state", { state });
  }

  #setNotice(text) {
    this.#notice.textContent = text;
  }

  #error(code, message, extra = {}) {
    this.#emit("error", { code, message, replyId: null, source: "client", ...extra });
  }

  #startFace() {
    const canvas = this.shadowRoot.querySelector("canvas");
    try {
      this.#face = new Face(canvas);
    } catch (err) {
      this.#setNotice("This browser cannot show the face (WebGL is unavailable).");
      this.#error("webgl_unavailable", String(err?.message ?? err));
      return;
    }
    this.#resizeObserver = new ResizeObserver(([entry]) => {
      const { width, height } = entry.contentRect;
      this.#face.resize(Math.round(width), Math.round(height));
    });
    this.#resizeObserver.observe(this.shadowRoot.querySelector(".stage"));
    this.#loadModel();
  }

  /** The head: the `model` attribute, resolved against the server (default: the server's own head). */
  async #loadModel() {
    const model = this.getAttribute("model") || "models/ict_head.glb";
    this.#setNotice("Loading the face…");
    try {
      await this.#face.load(new URL(model, httpBase(this.getAttribute("server"))).href);
    } catch (err) {
      this.#setNotice("The face could not be loaded.");
      this.#error("model_load_failed", `${model}: ${err?.message ?? err}`);
      return;
    }
    this.#modelLoaded = true;
    this.#setNotice(this.#hello ? "" : "Connecting…");
    this.#bindFace();
    this.#checkReady();
  }

  #bindFace() {
    if (!this.#modelLoaded || !this.#hello) return;
    const missing = this.#face.bind(this.#hello.blendshapes, this.#hello.channels);
    if (missing.length) console.info(`mien-avatar: the head has no morph target for ${missing.join(", ")}`);
  }

  #checkReady() {
    if (this.#isReady || !this.#modelLoaded || !this.#hello) return;
    this.#isReady = true;
    this.#resolveReady(this);
    this.#emit("ready", { hello: this.#hello });
  }

  #connect() {
    this.#abandonReply();
    this.#connection?.close();
    this.#connection = null;
    let url;
    try {
      url = socketUrl(this.getAttribute("server"));
    } catch {
      this.#setState(OFFLINE);
      this.#error("bad_server", `not a server URL: ${this.getAttribute("server")}`);
      return;
    }
    const connection = new MienConnection(url);
    connection.addEventListener("hello", (e) => this.#onHello(e.detail.hello));
    connection.addEventListener("message", (e) => this.#onMessage(e.detail.message));
    connection.addEventListener("frame", (e) => this.#frames.push(e.detail.seq, e.detail.tMs, e.detail.values));
    connection.addEventListener("close", (e) => this.#onClose(e.detail));
    connection.addEventListener("protocolerror", (e) => this.#error(e.detail.code, e.detail.message));
    this.#connection = connection;
    this.#setState(CONNECTING);
    connection.connect();
  }

  #onHello(hello) {
    this.#hello = hello;
    this.#frames.reset(hello.blendshapes.length + hello.channels.length);
    if (this.#modelLoaded) this.#setNotice("");
    this.#bindFace();
    if (document.visibilityState === "hidden") this.#sendVisibility();
    this.#emit("connect", { hello });
    this.#checkReady();
  }

  /** The session is gone: a reply still streaming will never end, so end it here as interrupted. */
  #abandonReply() {
    if (this.#reply) this.#endReply({ reply_id: this.#reply.replyId, status: "interrupted", text: this.#reply.text });
  }

  #onClose({ code, reason }) {
    this.#abandonReply();
    this.#setState(OFFLINE);
    if (this.#modelLoaded) this.#setNotice("Reconnecting…");
    this.#emit("disconnect", { code, reason });
  }

  #onMessage(m) {
    switch (m.type) {
      case "state":
        this.#setState(m.state);
        break;
      case "reply_start":
        this.#reply = { replyId: m.reply_id, text: "" };
        this.#emit("reply", { replyId: m.reply_id, source: m.source });
        break;
      case "text":
        if (this.#reply?.replyId === m.reply_id) this.#reply.text += m.delta;
        this.#emit("text", { replyId: m.reply_id, offset: m.offset, delta: m.delta });
        break;
      case "emotion":
        this.#emit("emotion", {
          replyId: m.reply_id,
          emotion: m.emotion,
          intensity: m.intensity,
          offset: m.offset,
          source: m.source,
        });
        break;
      case "reply_end":
        this.#endReply(m);
        break;
      case "error":
        this.#emit("error", { code: m.code, message: m.message, replyId: m.reply_id ?? null, source: "server" });
        break;
      default:
        console.debug("mien-avatar: ignoring message", m.type);
    }
  }

  #endReply({ reply_id: replyId, status, text }) {
    if (this.#reply?.replyId === replyId) this.#reply = null;
    this.#emit("replyend", { replyId, status, text });
  }

  /** One animation frame: take the face to show now from the frame buffer, apply it, draw. */
  #tick(now) {
    this.#raf = requestAnimationFrame((t) => this.#tick(t));
    const frame = this.#frames.sample(now);
    if (frame && this.#hello) {
      this.#face?.apply(frame.values);
      this.#publish(frame);
    }
    this.#face?.render();
  }

  /** Snapshot the shown frame for the read-only `blendshapes` / `head` properties. */
  #publish({ seq, values }) {
    const { blendshapes: names, channels } = this.#hello;
    const blend = {};
    names.forEach((name, i) => (blend[name] = values[i]));
    const head = {};
    channels.forEach((name, i) => (head[name] = values[names.length + i]));
    this.#blendshapes = Object.freeze(blend);
    this.#head = Object.freeze(head);
    this.#frameSeq = seq;
  }
}

if (!customElements.get("mien-avatar")) customElements.define("mien-avatar", MienAvatar);
