// The listening half of <mien-avatar>: the microphone (web/microphone.js) tied to the session. Opening it
// sends `listen` first (the server starts loading its recognizer while the browser asks for permission),
// then the audio; closing it sends `listen` off, which ends a push-to-talk turn. A new session (a reconnect)
// gets the open microphone again. Failures are `error` events with a sentence saying what to do.

import { captureProblem, MicCapture } from "./microphone.js";

export const MIC_MODES = ["push", "auto"];
const REFUSALS = new Set(["rate_limited", "speech_unavailable", "mic_off"]); // the server takes no more audio

export class AvatarListening {
  #session;
  #emit;
  #workletUrl;
  #capture;
  #mode = "off";
  #headphones = false;

  /** `session`: the AvatarSession; `emit(type, detail)`: the element's events; `workletUrl()`: where
   * web/mic-worklet.js is on the server. */
  constructor(session, emit, workletUrl) {
    this.#session = session;
    this.#emit = emit;
    this.#workletUrl = workletUrl;
    this.#capture = new MicCapture((buffer) => this.#session.sendBinary(buffer));
  }

  /** off | push | auto */
  get mode() {
    return this.#mode;
  }

  get headphones() {
    return this.#headphones;
  }

  /** The microphone's level now, 0..1 (0 when closed). */
  get level() {
    return this.#capture.open ? this.#capture.level : 0;
  }

  /** Why this element cannot listen now (a sentence), or null: the server's hello first, then the browser. */
  problem() {
    const hello = this.#session.hello;
    if (!hello) return "Not connected to the server yet.";
    const info = hello.speech_input;
    if (!info?.available) return `Speech input is unavailable: ${info?.reason ?? "this server does not offer it"}.`;
    return captureProblem();
  }

  /**
   * Open the microphone in `mode` (push: until stop(); auto: hands-free). Already open: the mode and the
   * headphones setting change. Resolves to true once audio flows, false (and an `error` event) if not.
   */
  async start(mode = "auto", headphones = this.#headphones) {
    if (!MIC_MODES.includes(mode)) {
      this.#error("out_of_range", `listen: mode must be one of ${MIC_MODES.join(", ")} (got ${mode})`);
      return false;
    }
    const problem = this.problem();
    if (problem) {
      this.#error("mic_unavailable", problem);
      return false;
    }
    this.#mode = mode;
    this.#headphones = Boolean(headphones);
    this.#session.send({ type: "listen", mode, headphones: this.#headphones });
    if (!this.#capture.open) {
      try {
        await this.#capture.start(this.#workletUrl());
      } catch (err) {
        if (this.#mode !== "off") this.#close();
        this.#error("mic_unavailable", err.message);
        return false;
      }
      if (this.#mode === "off") {
        this.#capture.stop(); // stopped while the browser was asking for permission
        return false;
      }
    }
    this.#emit("micstate", { mode: this.#mode, headphones: this.#headphones });
    return true;
  }

  /** Close the microphone (what the user was saying is their turn). False if it was not open. */
  stop() {
    if (this.#mode === "off") return false;
    this.#close();
    return true;
  }

  /** A new session said hello: an open microphone goes on in it (or closes, if it cannot listen). */
  onHello(hello) {
    if (this.#mode === "off") return;
    if (hello.speech_input?.available) {
      this.#session.send({ type: "listen", mode: this.#mode, headphones: this.#headphones });
    } else {
      this.#close();
      this.#error("mic_unavailable", this.problem());
    }
  }

  /** The element left the page, or its session ended for good (refused, idle, continued elsewhere). */
  close() {
    if (this.#mode !== "off") this.#close();
  }

  /** Every server message: the server refusing the audio (used up, no recognizer, mic closed) closes the
   * microphone once, instead of every 40 ms piece getting its own error while the browser records on. */
  onMessage(m) {
    if (this.#mode === "off" || m.type !== "error" || !REFUSALS.has(m.code)) return;
    this.#close();
    this.#error("mic_unavailable", `The microphone was closed: ${m.message}`);
  }

  #close() {
    this.#mode = "off";
    this.#capture.stop();
    if (this.#session.hello?.speech_input?.available) {
      this.#session.send({ type: "listen", mode: "off" }, { queue: false }); // (a closed session has none)
    }
    this.#emit("micstate", { mode: "off", headphones: this.#headphones });
  }

  #error(code, message) {
    this.#emit("error", { code, message, replyId: null, source: "client" });
  }
}
