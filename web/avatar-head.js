// The head <mien-avatar> shows: which GLB (the `avatar` attribute or its older name `model`, else the
// persona's, else the default), loading it into the AvatarView with the stage's notice line saying how it
// goes, and `ready` once both the head is loaded and the session said hello.

import { httpBase } from "./protocol.js";
import { OFFLINE } from "./session.js";

const DEFAULT_MODEL = "models/ict_head.glb";

export class AvatarHead {
  #el;
  #view;
  #notice;
  #server;
  #emit;
  #isReady = false;
  #resolveReady;
  /** Resolves (with the element) once the session said hello and the head is loaded. */
  ready = new Promise((resolve) => (this.#resolveReady = resolve));

  /**
   * `el`: the element (its attributes, `hello` and `state`); `view`: its AvatarView; `notice`: the stage's
   * notice line; `server()`: the server the head is resolved against; `emit(type, detail)`: its events.
   */
  constructor(el, view, notice, server, emit) {
    this.#el = el;
    this.#view = view;
    this.#notice = notice;
    this.#server = server;
    this.#emit = emit;
  }

  get isReady() {
    return this.#isReady;
  }

  /** Show `text` in the stage's notice line ("" hides it). */
  setNotice(text) {
    this.#notice.textContent = text;
  }

  /** The head the page asked for (`avatar`, or its alias `model`), or null: the persona decides. */
  asked() {
    return this.#el.getAttribute("avatar") || this.#el.getAttribute("model");
  }

  /** The head: the asked one, else the persona's, resolved against the server. */
  #wanted() {
    const persona = this.#el.hello?.persona;
    // The persona's head by its content-hash URL (cached by the browser for good), else by name.
    const own = persona?.avatar_url ?? (persona?.avatar ? `models/${persona.avatar}` : null);
    const model = this.asked() || own || DEFAULT_MODEL;
    return new URL(model, httpBase(this.#server())).href;
  }

  async load() {
    const url = this.#wanted();
    this.setNotice("Loading the face…");
    try {
      if (!(await this.#view.load(url))) return; // superseded by another load
    } catch (err) {
      this.setNotice("The face could not be loaded.");
      const name = this.asked() || url;
      const message = `${name}: ${err?.message ?? err}`;
      this.#emit("error", { code: "model_load_failed", message, replyId: null, source: "client" });
      return;
    }
    if (this.#el.state !== OFFLINE) this.setNotice(this.#el.hello ? "" : "Connecting…"); // keep a refusal shown
    this.#bindFace(this.#view.bind());
    this.checkReady();
  }

  /** A new session said hello: map its channels, and load the persona's own head if it has another. */
  onHello(hello) {
    this.#bindFace(this.#view.reset(hello));
    const otherHead = this.#wanted() !== this.#view.modelUrl; // the persona's own avatar
    if (this.#view.hasFace && otherHead) this.load();
    else if (this.#view.loaded) this.setNotice("");
  }

  checkReady() {
    const hello = this.#el.hello;
    if (this.#isReady || !this.#view.loaded || !hello) return;
    this.#isReady = true;
    this.#resolveReady(this.#el);
    this.#emit("ready", { hello });
  }

  #bindFace(missing) {
    if (missing.length) console.info(`mien-avatar: the head has no morph target for ${missing.join(", ")}`);
  }
}
