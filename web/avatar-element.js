// <mien-avatar>: Mien's face and its session in one element. It connects to a Mien server, renders the head,
// applies the streamed blendshape frames, re-announces the conversation as DOM events, and (unless turned
// off) shows its own chat, voice and controls in its shadow DOM, so two lines of HTML give a visitor a face
// to talk with. API: docs/element.md. The parts: session.js (the wire), voice-sync.js (the voice),
// element-ui.js (the built-in chat and controls), avatar-view.js (drawing), avatar-head.js (which head);
// avatar-parts.js wires them together. This module is the element: its attributes, lifecycle and API.

import { AvatarParts } from "./avatar-parts.js";
import { TEMPLATE } from "./avatar-view.js";
import { ElementUI } from "./element-ui.js";
import { CONNECTING, OFFLINE } from "./session.js";

export class MienAvatar extends HTMLElement {
  /** The server when the `server` attribute is absent (the widget bundle sets it to where it was loaded
   * from); null means this page's origin. */
  static defaultServer = null;

  static observedAttributes = [
    ...["server", "avatar", "model", "persona", "resume", "key"],
    ...["chat", "controls", "voice", "theme", "mic", "models"],
  ];

  #parts;
  #session;
  #view;
  #voice;
  #head;
  #listening;
  #ui;
  #started = false;

  constructor() {
    super();
    const face = TEMPLATE.content.cloneNode(true); // the stage, its canvas and the notice line
    const emit = (type, detail) => this.#emit(type, detail);
    this.#parts = new AvatarParts(this, face, emit, () => this.#server());
    ({ session: this.#session, view: this.#view, voice: this.#voice, head: this.#head } = this.#parts);
    this.#listening = this.#parts.listening;
    this.#ui = new ElementUI(this.attachShadow({ mode: "open" }), this, face, () => this.#voice.canStart());
  }

  // ------------------------------------------------------------------ lifecycle

  connectedCallback() {
    const first = !this.#started;
    this.#started = true;
    try {
      this.#view.start();
      // Without an `avatar`, the persona decides the head: load it when hello names it (one download).
      if (first && this.#head.asked()) this.#head.load();
    } catch (err) {
      this.#head.setNotice("This browser cannot show the face (WebGL is unavailable).");
      this.#error("webgl_unavailable", String(err?.message ?? err));
    }
    this.#ui.start();
    this.#session.connect();
    document.addEventListener("visibilitychange", this.#parts.onVisibility);
  }

  disconnectedCallback() {
    this.#view.stop();
    this.#ui.stop();
    document.removeEventListener("visibilitychange", this.#parts.onVisibility);
    this.#voice.stop();
    this.#listening.close();
    this.#session.close();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue) return;
    this.#ui.attributeChanged(name); // chat, controls, voice, theme, mic, models: the built-in UI's
    // Before the first connect (a deferred module defines the element after parsing, so every attribute
    // is "changed" once) connectedCallback opens the one session: don't open one per attribute.
    if (!this.isConnected || !this.#started) return;
    if (name === "server" || name === "persona" || name === "key") this.#session.connect(name);
    if ((name === "avatar" || name === "model") && this.#view.hasFace) this.#head.load();
  }

  // ------------------------------------------------------------------ public API: properties

  /** Resolves (with the element) once the session said hello and the head is loaded. */
  get ready() { return this.#head.ready; }

  get isReady() { return this.#head.isReady; }

  /** The server's hello (names, fps, limits, controls, personas), or null before the session opened. */
  get hello() { return this.#session.hello; }

  /** Emotion names the server knows, in its order. */
  get emotions() { return this.hello ? [...this.hello.emotions] : []; }

  /** The persona of this session ({id, name, greeting, avatar}), or null before hello. */
  get persona() { return this.hello ? { ...this.hello.persona } : null; }

  /** Every persona the server offers (switch with the `persona` attribute). */
  get personas() { return (this.hello?.personas ?? []).map((p) => ({ ...p })); }

  /** The server's id for this conversation (kept, so a reload or reconnect resumes it), or null. */
  get sessionId() { return this.hello?.session_id ?? null; }

  /** hello.controls, each with its current `value` (what the user set, else the default). */
  get controls() {
    const hello = this.hello;
    const settings = this.#session.settings;
    return (hello?.controls ?? []).map((c) => ({ ...c, value: settings.control(hello, c.name) }));
  }

  /** Emotion name -> current gain. */
  get gains() {
    return Object.fromEntries(this.emotions.map((e) => [e, this.#session.settings.gain(this.hello, e)]));
  }

  /** The mood set with setMood() as {emotion, intensity}, or null (the persona's own). */
  get mood() { return this.#session.settings.mood; }

  /** connecting | idle | listening | thinking | speaking | offline */
  get state() { return this.#session.state; }

  /** ARKit name -> weight (0..1) of the latest frame shown. */
  get blendshapes() { return this.#view.blendshapes; }

  /** Head channel name (headYaw, headPitch, headRoll) -> radians, of the latest frame (as sent). */
  get head() { return this.#view.head; }

  /** The share of head motion drawn: 1, or less under prefers-reduced-motion. */
  get headMotion() { return this.#view.headMotion; }

  /** Sequence number of the latest frame shown (-1 before any). */
  get frameSeq() { return this.#view.frameSeq; }

  /** t_ms (the server's clock) of the latest frame shown (-1 before any). */
  get frameTMs() { return this.#view.frameTMs; }

  /** True while replies are spoken aloud (setVoice). */
  get voice() { return this.#voice.on; }

  /** Voice playback counters and per-sentence A/V measurements, for debugging and tests (docs/element.md). */
  get voiceStats() { return this.#voice.stats; }

  /** The reply in progress as {replyId, text}, or null. */
  get reply() { return this.#session.reply; }

  /** The session's prompts ({generator, system, criteria, edited}) where this page may edit them, else null. */
  get prompts() { return this.#session.prompts; }

  /** The microphone: "off", "push" or "auto". */
  get listening() { return this.#listening.mode; }

  /** The microphone's level now (0..1, for a meter; 0 when closed). */
  get micLevel() { return this.#listening.level; }

  /** Why the microphone cannot open here (a sentence for the user), or null. */
  get micProblem() { return this.#listening.problem(); }

  // ------------------------------------------------------------------ public API: methods

  /** A user's chat message: the model replies (interrupting any reply in progress). With `image` (a File or
   * Blob: JPEG, PNG or WebP) the avatar is shown that picture too, and a Promise of the result returned. */
  send(text, { image } = {}) {
    this.#voice.stop(); // a new line cuts the voice of the one before
    return image ? this.#parts.pictures.send(text, image) : this.#session.sendUser("user_message", text);
  }

  /** A scripted line, spoken as written; inline tags like "[joy] Hi!" cue emotions. No model is called. */
  speak(text) {
    this.#voice.stop();
    return this.#session.sendUser("speak", text);
  }

  /** Speak the persona's greeting (a scripted line; its `usermessage` has `greeting: true`). */
  greet() {
    const greeting = this.hello?.persona?.greeting;
    if (!greeting) return false;
    this.#voice.stop();
    return this.#session.sendUser("speak", greeting, { greeting: true });
  }

  /**
   * This session's system prompt and evaluator criteria ({system, criteria: [{name, text}]}; "" and [] the
   * persona's own; either may be left out). Answered by a `prompts` event; `not_allowed` where refused.
   */
  setPrompts({ system, criteria } = {}) {
    return this.#session.send({ type: "set_prompts", system, criteria });
  }

  /** Pose `emotion` at `intensity` (0..1) for `hold` seconds. Out-of-range input gets an `error` event. */
  setEmotion(emotion, intensity = 1, hold = undefined) {
    const message = { type: "set_emotion", emotion, intensity };
    if (hold !== undefined) message.hold = hold;
    return this.#session.send(message);
  }

  /** Per-emotion gain (hello.gain's range): 0 suppresses, 1 as cued, 2 amplifies. Kept across sessions. */
  setGain(emotion, gain) {
    const sent = this.#session.send({ type: "set_gain", emotion, gain });
    return this.#session.keep(sent, (h) => this.#session.settings.setGain(h, emotion, gain));
  }

  /** Scales every emotion (0 deadpan .. 1 default .. 2 theatrical): the `expressiveness` control. */
  setExpressiveness(value) {
    const sent = this.#session.send({ type: "set_expressiveness", value });
    return this.#session.keep(sent, (h) => this.#session.settings.setControl(h, "expressiveness", value));
  }

  /** One of hello.controls by name, in its range (a switch takes 0/1 or false/true). Kept across sessions. */
  setControl(name, value) {
    const number = typeof value === "boolean" ? Number(value) : value;
    const sent = this.#session.send({ type: "set_control", name, value: number });
    return this.#session.keep(sent, (h) => this.#session.settings.setControl(h, name, number));
  }

  /** The mood the face rests in and decays back to: `emotion` at `intensity` (0..1). Kept across sessions. */
  setMood(emotion, intensity) {
    const sent = this.#session.send({ type: "set_mood", emotion, intensity });
    return this.#session.keep(sent, (h) => this.#session.settings.setMood(h, emotion, intensity));
  }

  /** Controls, gains and mood back to their defaults; the conversation stays. */
  resetControls() {
    let sent = true;
    for (const message of this.#session.settings.reset(this.hello)) sent = this.#session.send(message) && sent;
    this.#emit("settings", {});
    return sent;
  }

  /**
   * A new conversation: the reply in progress and its voice stop, the conversation is forgotten on the server
   * and on the page (the `history` event with reason `clear` empties the built-in chat), and every control,
   * gain and mood goes back to its default. The session, its id and the voice setting stay.
   */
  reset() {
    this.#voice.stop();
    const cleared = this.clearHistory(); // the server cancels any reply first, then clears
    return this.resetControls() && cleared;
  }

  /** Forget this conversation, on the server too; a `history` event (reason `clear`) confirms. */
  clearHistory() {
    return this.#session.send({ type: "clear_history" });
  }

  /** Resolves to the conversation's turns [{role, content, status, cues}]; rejects if the session closes first. */
  exportHistory() {
    return this.#session.exportHistory();
  }

  /** Interrupt the reply in progress (its audio stops at once). */
  stop() {
    this.#voice.stop();
    return this.#session.send({ type: "stop" });
  }

  /**
   * Speak replies aloud (or not). Call it from a user gesture (a click): browsers let a page start audio
   * only then. Frames are shown a little late while the voice is on, so the mouth meets the sound.
   */
  setVoice(enabled) {
    const on = Boolean(enabled);
    if (!this.#voice.turn(on, this.hello)) return false;
    const sent = this.#session.send({ type: "set_voice", enabled: on });
    this.#emit("settings", {});
    return sent;
  }

  /** The user is composing a message (the server answers with state `listening`). */
  setTyping(active) {
    return this.#session.send({ type: "typing", active: Boolean(active) }, { queue: false });
  }

  /**
   * Open the microphone: `mode` "auto" (hands-free: turns end by themselves) or "push" (the turn ends at
   * stopListening()); `headphones`: the voice cannot reach the mic, so talking over it stops it sooner. Call
   * it from a user gesture. Resolves to true once audio flows, false (and an `error` event) if it cannot.
   */
  startListening(mode = "auto", { headphones } = {}) {
    return this.#listening.start(mode, headphones);
  }

  /** Close the microphone; what the user was saying becomes their turn. */
  stopListening() {
    return this.#listening.stop();
  }

  // ------------------------------------------------------------------ internals

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  #error(code, message) {
    this.#emit("error", { code, message, replyId: null, source: "client" });
  }

  #server() {
    return this.getAttribute("server") || MienAvatar.defaultServer;
  }
}

export { CONNECTING, OFFLINE };
