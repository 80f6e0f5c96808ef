// The microphone, captured for the server: getUserMedia with the browser's echo cancellation, noise
// suppression and auto gain, into web/mic-worklet.js (at the context's own rate, resampled to 16 kHz), out as
// the protocol's binary `mic` messages (docs/protocol.md, "Speech input"). Audio only leaves for the
// server's socket; nothing is kept. Every failure the user can meet has a sentence that says what to do.

import { clientBinary } from "./protocol.js";

const MIC_KIND = 3;

/** A `mic` message: the header, then the int16 samples (little-endian, as every browser stores them). */
export function micMessage(seq, pcm) {
  return clientBinary(MIC_KIND, seq, pcm);
}

/** Why this page cannot record at all (null if it can): checked before asking for permission. */
export function captureProblem(win = globalThis) {
  if (win.isSecureContext === false) {
    return "The microphone needs a secure page: open Mien over https (or on localhost).";
  }
  if (!win.navigator?.mediaDevices?.getUserMedia) return "This browser cannot record audio.";
  if (!win.AudioWorkletNode) return "This browser cannot process microphone audio (no AudioWorklet).";
  return null;
}

/** getUserMedia's and addModule's errors, as what the user should do about them. */
export function captureError(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return (
        "Microphone permission was denied: allow the microphone for this site in the browser's settings " +
        '(on another site\'s page, its iframe also needs allow="microphone").'
      );
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found: plug one in or enable it, then try again.";
    case "NotReadableError":
    case "AbortError":
      return "The microphone is busy or failed (another application may be using it).";
    default:
      return `The microphone could not be opened: ${err?.message ?? err}`;
  }
}

export class MicCapture {
  #ctx = null;
  #stream = null;
  #node = null;
  #seq = 0;
  #pending = null; // the start in progress: a second start() waits for it instead of opening another
  #generation = 0; // bumped by stop(): a start that finishes after it closes what it opened
  level = 0; // the latest piece's RMS level mapped to 0..1 (-60..0 dBFS), for a meter

  /** `send(buffer)`: where each `mic` message goes (false if it could not be sent). */
  constructor(send) {
    this.send = send;
  }

  get open() {
    return this.#node !== null;
  }

  /**
   * Ask for the microphone and start sending; `workletUrl` is web/mic-worklet.js on the server. Resolves
   * when audio flows; rejects with an Error whose message is captureError's sentence.
   */
  start(workletUrl) {
    if (this.open) return Promise.resolve();
    this.#pending ??= this.#open(workletUrl).finally(() => (this.#pending = null));
    return this.#pending;
  }

  async #open(workletUrl) {
    const problem = captureProblem();
    if (problem) throw new Error(problem);
    const generation = this.#generation;
    const ctx = new AudioContext({ latencyHint: "interactive" }); // inside the user's gesture, where called so
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 };
    // Both at once; whichever fails, a stream the other let through is stopped (else it records on).
    const [asked, loaded] = await Promise.allSettled([
      navigator.mediaDevices.getUserMedia({ audio }),
      ctx.audioWorklet.addModule(workletUrl),
    ]);
    const stream = asked.status === "fulfilled" ? asked.value : null;
    const close = () => {
      stream?.getTracks().forEach((t) => t.stop());
      ctx.close().catch(() => {});
    };
    if (asked.status === "rejected") {
      close();
      throw new Error(captureError(asked.reason));
    }
    if (loaded.status === "rejected") {
      close();
      throw new Error(`The microphone's audio processor could not load (${loaded.reason?.message ?? loaded.reason}).`);
    }
    if (ctx.state === "suspended") await ctx.resume().catch(() => {});
    if (generation !== this.#generation) {
      close(); // stopped while the browser was asking
      return;
    }
    const node = new AudioWorkletNode(ctx, "mien-mic", { numberOfInputs: 1, numberOfOutputs: 0 });
    node.port.onmessage = ({ data }) => node === this.#node && this.#piece(data);
    ctx.createMediaStreamSource(stream).connect(node);
    this.#ctx = ctx;
    this.#stream = stream;
    this.#node = node;
  }

  /** Close the microphone: the browser's recording indicator goes off with it. */
  stop() {
    this.#generation += 1;
    this.#node?.port.postMessage("close");
    this.#node?.disconnect();
    this.#stream?.getTracks().forEach((t) => t.stop());
    this.#ctx?.close().catch(() => {});
    this.#ctx = this.#stream = this.#node = null;
    this.level = 0;
  }

  #piece({ pcm, rms }) {
    if (!this.#node) return;
    const db = 20 * Math.log10(Math.max(rms, 1e-6));
    this.level = Math.max(0, Math.min(1, (db + 60) / 60));
    this.send(micMessage(this.#seq++, pcm));
  }
}
