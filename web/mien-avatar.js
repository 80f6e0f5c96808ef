// <mien-avatar>: Mien's face and its session in one element. It connects to a Mien server, renders the head,
// applies the streamed blendshape frames, and re-announces the conversation as DOM events, so a page (Mien's
// own, or an embedding site) builds its chat and controls around it. API: docs/element.md.

import { AUDIO_KIND, VoicePlayer } from "./audio.js";
import { AvatarView, TEMPLATE } from "./avatar-view.js";
import { FaceSettings } from "./face-settings.js";
import { MienConnection, httpBase, messageEvent, socketUrl } from "./protocol.js";
import { SessionMemory } from "./session-store.js";

/** Element-level states besides the server's idle / listening / thinking / speaking. */
const CONNECTING = "connecting";
const OFFLINE = "offline";
const DEFAULT_MODEL = "models/ict_head.glb";
const PLAYOUT_DELAY_MS = 150; // frames wait this long while the voice is on, so audio and mouth line up
const MAX_PLAYOUT_DELAY_MS = 500; // ... or up to this long when audio arrives (or decodes) too late
const REFUSED = 1008; // the server's close code for a refused session (embed key, origin, session limit)
const sessions = new SessionMemory(); // shared by every element on the page

export class MienAvatar extends HTMLElement {
  static observedAttributes = ["server", "model", "persona", "resume", "key"];

  #connection = null;
  #view;
  #hello = null;
  #state = CONNECTING;
  #isReady = false;
  #resolveReady;
  #ready = new Promise((resolve) => (this.#resolveReady = resolve));
  #reply = null; // {replyId, text} while a reply streams
  #settings = new FaceSettings(); // the user's controls, gains and mood, replayed on every new session
  #exports = []; // pending exportHistory() promises: {resolve, reject}
  #connectReason = "open"; // why the next hello comes: open | reconnect | persona | server
  #socketUrl = "";
  #persona = null; // the persona asked for (the attribute) by the current connection
  #started = false;
  #notice;
  #onVisibility = () => this.#sendVisibility();
  #voice = false;
  #player;
  #sync = new Map(); // "replyId:sentence" -> {replyId, sentence, tMs, audioAt, faceAt}: A/V measurements

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    root.append(TEMPLATE.content.cloneNode(true));
    this.#notice = root.querySelector(".notice");
    this.#view = new AvatarView(root.querySelector(".stage"), root.querySelector("canvas"));
    this.#player = new VoicePlayer((tMs) => this.#view.perfAt(tMs));
    this.#player.oncaption = (replyId, offset, sentence) => this.#emit("caption", { replyId, offset, sentence });
    this.#player.onlate = (ms) => {
      const delay = Math.min(MAX_PLAYOUT_DELAY_MS, this.#view.delayMs + ms + 30);
      if (this.#voice) this.#view.delayMs = delay; // the face waits for the voice
    };
    this.#player.onstart = (start) => this.#measure(start, "audioAt", start.audioAt);
    this.#view.onshow = (tMs, now) => {
      for (const s of this.#sync.values()) {
        if (s.faceAt === null && tMs >= s.tMs) this.#measure(s, "faceAt", now, tMs);
        else if (s.faceAt === null) s.prevFaceAt = now;
      }
    };
  }

  // ------------------------------------------------------------------ lifecycle

  connectedCallback() {
    const first = !this.#started;
    this.#started = true;
    try {
      this.#view.start();
      if (first) this.#loadModel();
    } catch (err) {
      this.#setNotice("This browser cannot show the face (WebGL is unavailable).");
      this.#error("webgl_unavailable", String(err?.message ?? err));
    }
    this.#connect();
    document.addEventListener("visibilitychange", this.#onVisibility);
  }

  disconnectedCallback() {
    this.#view.stop();
    document.removeEventListener("visibilitychange", this.#onVisibility);
    this.#abandonReply();
    this.#failExports("the element left the page");
    this.#connection?.close();
    this.#connection = null;
    this.#setState(OFFLINE);
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (!this.isConnected || oldValue === newValue) return;
    if (name === "server" || name === "persona" || name === "key") this.#connect(name);
    if (name === "model" && this.#view.hasFace) this.#loadModel();
  }

  // ------------------------------------------------------------------ public API: properties

  /** Resolves (with the element) once the session said hello and the head is loaded. */
  get ready() {
    return this.#ready;
  }

  get isReady() {
    return this.#isReady;
  }

  /** The server's hello (names, fps, limits, controls, personas), or null before the session opened. */
  get hello() {
    return this.#hello;
  }

  /** Emotion names the server knows, in its order. */
  get emotions() {
    return this.#hello ? [...this.#hello.emotions] : [];
  }

  /** The persona of this session ({id, name, greeting, avatar}), or null before hello. */
  get persona() {
    return this.#hello ? { ...this.#hello.persona } : null;
  }

  /** Every persona the server offers (switch with the `persona` attribute). */
  get personas() {
    return (this.#hello?.personas ?? []).map((p) => ({ ...p }));
  }

  /** The server's id for this conversation (kept, so a reload or reconnect resumes it), or null. */
  get sessionId() {
    return this.#hello?.session_id ?? null;
  }

  /** hello.controls, each with its current `value` (what the user set, else the default). */
  get controls() {
    const hello = this.#hello;
    return (hello?.controls ?? []).map((c) => ({ ...c, value: this.#settings.control(hello, c.name) }));
  }

  /** Emotion name -> current gain. */
  get gains() {
    return Object.fromEntries(this.emotions.map((e) => [e, this.#settings.gain(this.#hello, e)]));
  }

  /** The mood set with setMood() as {emotion, intensity}, or null (the persona's own). */
  get mood() {
    return this.#settings.mood;
  }

  /** connecting | idle | listening | thinking | speaking | offline */
  get state() {
    return this.#state;
  }

  /** ARKit name -> weight (0..1) of the latest frame shown. */
  get blendshapes() {
    return this.#view.blendshapes;
  }

  /** Head channel name (headYaw, headPitch, headRoll) -> radians, of the latest frame (as sent). */
  get head() {
    return this.#view.head;
  }

  /** The share of head motion drawn: 1, or less under prefers-reduced-motion. */
  get headMotion() {
    return this.#view.headMotion;
  }

  /** Sequence number of the latest frame shown (-1 before any). */
  get frameSeq() {
    return this.#view.frameSeq;
  }

  /** True while replies are spoken aloud (setVoice). */
  get voice() {
    return this.#voice;
  }

  /**
   * Voice playback counters, for debugging and tests: {decoded, scheduled, played, late, delayMs, offsetMs,
   * sync: [{replyId, sentence, tMs, audioAt, faceAt, prevFaceAt, faceTMs, offsetMs}]}: per sentence, when
   * (performance.now()) its audio started, when the face drew the first frame with t_ms >= tMs (faceTMs)
   * and the frame before it, and offsetMs = faceAt - audioAt (positive: the audio is ahead of the face).
   */
  get voiceStats() {
    const { decoded, scheduled, played, late } = this.#player.stats;
    const sync = [...this.#sync.values()].map((s) => ({ ...s }));
    const measured = sync.filter((s) => s.offsetMs !== null);
    const offsetMs = measured.length ? measured.at(-1).offsetMs : null;
    const delayMs = this.#view.delayMs;
    return { decoded, scheduled, played, late, delayMs, offsetMs, sync };
  }

  /** t_ms (the server's clock) of the latest frame shown (-1 before any). */
  get frameTMs() {
    return this.#view.frameTMs;
  }

  /** The reply in progress as {replyId, text}, or null. */
  get reply() {
    return this.#reply ? { ...this.#reply } : null;
  }

  // ------------------------------------------------------------------ public API: methods

  /** A user's chat message: the model replies (interrupting any reply in progress). */
  send(text) {
    return this.#sendUser("user_message", text);
  }

  /** A scripted line, spoken as written; inline tags like "[joy] Hi!" cue emotions. No model is called. */
  speak(text) {
    return this.#sendUser("speak", text);
  }

  /** Speak the persona's greeting (a scripted line; its `usermessage` has `greeting: true`). */
  greet() {
    const greeting = this.#hello?.persona?.greeting;
    return greeting ? this.#sendUser("speak", greeting, { greeting: true }) : false;
  }

  /** Pose `emotion` at `intensity` (0..1) for `hold` seconds. Out-of-range input gets an `error` event. */
  setEmotion(emotion, intensity = 1, hold = undefined) {
    const message = { type: "set_emotion", emotion, intensity };
    if (hold !== undefined) message.hold = hold;
    return this.#send(message);
  }

  /** Per-emotion gain (hello.gain's range): 0 suppresses, 1 as cued, 2 amplifies. Kept across sessions. */
  setGain(emotion, gain) {
    const sent = this.#send({ type: "set_gain", emotion, gain });
    return this.#keep(sent, (h) => this.#settings.setGain(h, emotion, gain));
  }

  /** Scales every emotion (0 deadpan .. 1 default .. 2 theatrical): the `expressiveness` control. */
  setExpressiveness(value) {
    const sent = this.#send({ type: "set_expressiveness", value });
    return this.#keep(sent, (h) => this.#settings.setControl(h, "expressiveness", value));
  }

  /** One of hello.controls by name, in its range (a switch takes 0/1 or false/true). Kept across sessions. */
  setControl(name, value) {
    const number = typeof value === "boolean" ? Number(value) : value;
    const sent = this.#send({ type: "set_control", name, value: number });
    return this.#keep(sent, (h) => this.#settings.setControl(h, name, number));
  }

  /** The mood the face rests in and decays back to: `emotion` at `intensity` (0..1). Kept across sessions. */
  setMood(emotion, intensity) {
    const sent = this.#send({ type: "set_mood", emotion, intensity });
    return this.#keep(sent, (h) => this.#settings.setMood(h, emotion, intensity));
  }

  /** Controls, gains and mood back to their defaults; the conversation stays. */
  resetControls() {
    let sent = true;
    for (const message of this.#settings.reset(this.#hello)) sent = this.#send(message) && sent;
    this.#emit("settings", {});
    return sent;
  }

  /** A fresh start: the conversation cleared (on the server too) and the controls back to their defaults. */
  reset() {
    const cleared = this.clearHistory();
    return this.resetControls() && cleared;
  }

  /** Forget this conversation, on the server too; a `history` event (reason `clear`) confirms. */
  clearHistory() {
    return this.#send({ type: "clear_history" });
  }

  /** Resolves to the conversation's turns [{role, content, status}]; rejects if the session closes first. */
  exportHistory() {
    return new Promise((resolve, reject) => {
      const pending = { resolve, reject };
      this.#exports.push(pending);
      if (!this.#connection || !this.#send({ type: "export_history" })) {
        this.#exports.splice(this.#exports.indexOf(pending), 1);
        reject(new Error("not connected"));
      }
    });
  }

  /** Interrupt the reply in progress (its audio stops at once). */
  stop() {
    this.#player.stop();
    return this.#send({ type: "stop" });
  }

  /**
   * Speak replies aloud (or not). Call it from a user gesture (a click): browsers let a page start audio
   * only then. Frames are shown `PLAYOUT_DELAY_MS` late while the voice is on, so the mouth meets the sound.
   */
  setVoice(enabled) {
    const on = Boolean(enabled);
    if (on && this.#hello && !this.#hello.voice) {
      this.#error("voice_unavailable", "this server cannot speak (hello.voice is false)");
      return false;
    }
    if (on) {
      try {
        this.#player.unlock();
      } catch (err) {
        this.#error("audio_unavailable", String(err?.message ?? err));
        return false;
      }
    } else this.#player.stop();
    const sent = this.#send({ type: "set_voice", enabled: on });
    this.#voice = on;
    this.#view.delayMs = on ? PLAYOUT_DELAY_MS : 0;
    this.#view.clock = on ? (now) => this.#player.clockMs(now) : null;
    this.#view.hold = on ? () => this.#player.holdMs() : null;
    this.#emit("settings", {});
    return sent;
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

  /** After a sent setting: remember it (if the server will accept it) and announce the change. */
  #keep(sent, remember) {
    if (sent && remember(this.#hello)) this.#emit("settings", {});
    return sent;
  }

  #sendUser(type, text, extra = {}) {
    this.#player.stop(); // a new line cuts the voice of the one before
    const sent = this.#send({ type, text });
    if (sent) this.#emit("usermessage", { text, scripted: type === "speak", greeting: false, ...extra });
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

  /** The head: the `model` attribute, else the persona's avatar, resolved against the server. */
  #wantedModel() {
    const avatar = this.#hello?.persona?.avatar;
    const model = this.getAttribute("model") || (avatar ? `models/${avatar}` : DEFAULT_MODEL);
    return new URL(model, httpBase(this.getAttribute("server"))).href;
  }

  async #loadModel() {
    const url = this.#wantedModel();
    this.#setNotice("Loading the face…");
    try {
      if (!(await this.#view.load(url))) return; // superseded by another load
    } catch (err) {
      this.#setNotice("The face could not be loaded.");
      this.#error("model_load_failed", `${this.getAttribute("model") || url}: ${err?.message ?? err}`);
      return;
    }
    this.#setNotice(this.#hello ? "" : "Connecting…");
    this.#bindFace(this.#view.bind());
    this.#checkReady();
  }

  #bindFace(missing) {
    if (missing.length) console.info(`mien-avatar: the head has no morph target for ${missing.join(", ")}`);
  }

  #checkReady() {
    if (this.#isReady || !this.#view.loaded || !this.#hello) return;
    this.#isReady = true;
    this.#resolveReady(this);
    this.#emit("ready", { hello: this.#hello });
  }

  /** (Re)open the session; `reason` is passed on in the next `connect` event. */
  #connect(reason = "open") {
    this.#abandonReply();
    this.#failExports("the session was replaced");
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
    const persona = (this.#persona = this.getAttribute("persona") || null);
    this.#socketUrl = url;
    this.#connectReason = reason;
    // Asked on every attempt, so a reconnect resumes the conversation the last hello named.
    const key = this.getAttribute("key") || null;
    const connection = new MienConnection(() =>
      sessions.urlFor(url, { key, persona, mode: this.getAttribute("resume") }),
    );
    connection.addEventListener("hello", (e) => this.#onHello(e.detail.hello));
    connection.addEventListener("message", (e) => this.#onMessage(e.detail.message));
    connection.addEventListener("frame", (e) => this.#view.push(e.detail.seq, e.detail.tMs, e.detail.values));
    connection.addEventListener("binary", (e) => this.#onBinary(e.detail.buffer));
    connection.addEventListener("close", (e) => this.#onClose(e.detail));
    connection.addEventListener("protocolerror", (e) => this.#error(e.detail.code, e.detail.message));
    this.#connection = connection;
    this.#setState(CONNECTING);
    connection.connect();
  }

  #onHello(hello) {
    this.#hello = hello;
    sessions.rememberHello(this.#socketUrl, this.#persona, hello, this.getAttribute("resume"));
    this.#bindFace(this.#view.reset(hello));
    const otherHead = this.#wantedModel() !== this.#view.modelUrl; // the persona's own avatar
    if (this.#view.hasFace && otherHead) this.#loadModel();
    else if (this.#view.loaded) this.#setNotice("");
    if (document.visibilityState === "hidden") this.#sendVisibility();
    for (const message of this.#settings.replay(hello)) this.#send(message); // a new session: the user's face
    this.#player.reset();
    this.#sync.clear();
    if (this.#voice && hello.voice) this.#send({ type: "set_voice", enabled: true });
    const reason = this.#connectReason;
    this.#connectReason = "reconnect";
    this.#emit("connect", { hello, reason, resumed: hello.resumed });
    this.#checkReady();
  }

  #failExports(why) {
    for (const { reject } of this.#exports.splice(0)) reject(new Error(why));
  }

  /** The session is gone: a reply still streaming will never end, so end it here as interrupted. */
  #abandonReply() {
    if (!this.#reply) return;
    const { replyId, text } = this.#reply;
    this.#reply = null;
    this.#emit("replyend", { replyId, status: "interrupted", text });
  }

  #onClose({ code, reason }) {
    this.#abandonReply();
    this.#failExports("disconnected before the history arrived");
    this.#setState(OFFLINE);
    const refused = code === REFUSED;
    if (refused) this.#setNotice("The server refused this page.");
    else if (this.#view.loaded) this.#setNotice("Reconnecting…");
    this.#emit("disconnect", { code, reason, retrying: !refused });
  }

  #onBinary(buffer) {
    if (!this.#voice || new DataView(buffer).getUint8(0) !== AUDIO_KIND) return;
    this.#player.play(buffer).catch((err) => this.#error("audio_decode_failed", String(err?.message ?? err)));
  }

  /** One half of an A/V measurement (the audio started, or the face showed the sentence's first frame). */
  #measure(start, field, at, faceTMs = null) {
    const key = `${start.replyId}:${start.sentence}`;
    const s = this.#sync.get(key);
    if (!s) return;
    s[field] = at;
    if (faceTMs !== null) s.faceTMs = faceTMs;
    if (s.audioAt !== null && s.faceAt !== null) s.offsetMs = s.faceAt - s.audioAt;
  }

  #onMessage(m) {
    if (m.type === "state") {
      this.#setState(m.state);
      return;
    }
    if (m.type === "speech" && this.#voice) {
      this.#player.expect(m);
      const { reply_id: replyId, sentence, t_ms: tMs } = m;
      this.#sync.set(`${replyId}:${sentence}`, {
        ...{ replyId, sentence, tMs, audioAt: null, faceAt: null, prevFaceAt: null, faceTMs: null },
        offsetMs: null,
      });
      while (this.#sync.size > 50) this.#sync.delete(this.#sync.keys().next().value);
    }
    if (m.type === "reply_end" && m.status !== "complete") this.#player.stop(m.reply_id);
    const event = messageEvent(m);
    if (!event) {
      console.debug("mien-avatar: ignoring message", m.type);
      return;
    }
    const [type, detail] = event;
    const current = this.#reply?.replyId === detail.replyId;
    if (type === "reply") this.#reply = { replyId: detail.replyId, text: "" };
    else if (type === "text" && current) this.#reply.text += detail.delta;
    else if (type === "replyend" && current) this.#reply = null;
    else if (type === "history" && detail.reason === "export") {
      this.#exports.shift()?.resolve(detail.turns.map((t) => ({ ...t })));
    }
    this.#emit(type, detail);
  }
}

if (!customElements.get("mien-avatar")) customElements.define("mien-avatar", MienAvatar);
