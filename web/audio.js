// The voice: one AudioContext (created and resumed only inside a user gesture, as browsers require) that
// decodes each sentence's Ogg/Opus and starts it when the face clock reaches the sentence's t_ms. The face
// clock maps server ms to performance.now() (the frame buffer's estimate plus its playout delay); this maps
// performance.now() to AudioContext time. While a sentence plays, its audio is the master clock
// (`clockMs`), so the frames shown follow the sound. Captions: `oncaption(replyId, offset)` as each word
// starts sounding (timers from the scheduled times). Protocol: docs/protocol.md, `speech` and Audio.

export const AUDIO_KIND = 2;
const HEADER_BYTES = 8; // u8 kind, u8 flags, u32 reply_id, u16 sentence

/** A binary audio message -> {replyId, sentence, ogg (ArrayBuffer)}; throws on a malformed one. */
export function decodeAudio(buffer) {
  const view = new DataView(buffer);
  if (view.byteLength <= HEADER_BYTES || view.getUint8(0) !== AUDIO_KIND) throw new Error("not an audio message");
  return {
    replyId: view.getUint32(2, true),
    sentence: view.getUint16(6, true),
    ogg: buffer.slice(HEADER_BYTES),
  };
}

export class VoicePlayer {
  #ctx = null;
  #out = null; // every sentence plays through this gain: barge-in mutes it at once
  #faceToPerf; // (serverMs) -> performance.now() at which the face shows that t_ms; null if unknown
  #pending = new Map(); // "replyId:sentence" -> speech message waiting for its audio
  #sources = []; // [{replyId, sentence, tMs, when, node, timers: []}]
  #stopped = new Set(); // reply ids stopped: late audio for them is dropped
  #waiting = new Map(); // "replyId:sentence" -> t_ms of a sentence announced but not yet scheduled
  stats = { decoded: 0, scheduled: 0, played: 0, late: 0, starts: [], ducked: false };
  oncaption = null; // (replyId, offset, sentence)
  onlate = null; // (ms) a sentence was ready this late: delay the face so much more
  onstart = null; // ({replyId, sentence, tMs, audioAt}) when a sentence starts sounding

  /** `faceToPerf(tMs)`: when (performance.now()) the face shows frame time tMs, or null. */
  constructor(faceToPerf) {
    this.#faceToPerf = faceToPerf;
  }

  get context() {
    return this.#ctx;
  }

  /** Create or resume the AudioContext; call from a user gesture (click, key press). */
  unlock() {
    if (!this.#ctx) {
      this.#ctx = new AudioContext({ latencyHint: "interactive" });
      this.#out = this.#ctx.createGain();
      this.#out.connect(this.#ctx.destination);
    }
    if (this.#ctx.state === "suspended") this.#ctx.resume().catch(() => {});
    return this.#ctx;
  }

  /** The speech message announcing a sentence; its audio follows. */
  expect(speech) {
    const key = `${speech.reply_id}:${speech.sentence}`;
    this.#pending.set(key, speech);
    this.#waiting.set(key, speech.t_ms);
  }

  /** A binary audio message arrived: decode it and schedule it at its speech's t_ms. */
  async play(buffer) {
    const { replyId, sentence, ogg } = decodeAudio(buffer);
    const key = `${replyId}:${sentence}`;
    const speech = this.#pending.get(key);
    this.#pending.delete(key);
    if (!speech || !this.#ctx || this.#stopped.has(replyId)) return void this.#waiting.delete(key);
    let audio;
    try {
      audio = await this.#ctx.decodeAudioData(ogg);
    } finally {
      this.#waiting.delete(key);
    }
    this.stats.decoded += 1;
    if (this.#stopped.has(replyId)) return;
    this.#schedule(speech, audio);
  }

  /**
   * performance.now() -> the AudioContext time heard then: from getOutputTimestamp() (which includes the
   * output latency) where the browser gives one, else from currentTime (coarse) minus outputLatency.
   */
  #ctxAt(perfMs) {
    const ctx = this.#ctx;
    const ts = ctx.getOutputTimestamp?.();
    if (ts?.performanceTime > 0) return ts.contextTime + (perfMs - ts.performanceTime) / 1000;
    return ctx.currentTime + (perfMs - performance.now()) / 1000 - (ctx.outputLatency || 0);
  }

  /** The inverse of #ctxAt: when (performance.now()) the AudioContext time `t` is heard. */
  #perfAt(t) {
    return performance.now() + (t - this.#ctxAt(performance.now())) * 1000;
  }

  #schedule(speech, audio) {
    const ctx = this.#ctx;
    const whenFor = () => {
      const perf = this.#faceToPerf(speech.t_ms);
      return perf === null ? ctx.currentTime : this.#ctxAt(perf);
    };
    let when = whenFor();
    if (when < ctx.currentTime) {
      // Ready too late: the face waits (its playout delay grows) rather than the sentence losing its start.
      this.stats.late += 1;
      this.onlate?.((ctx.currentTime - when) * 1000);
      when = whenFor();
    }
    const late = Math.max(0, ctx.currentTime - when); // still late (the delay is at its cap): cut the start
    if (late >= audio.duration) return; // entirely in the past
    const node = ctx.createBufferSource();
    node.buffer = audio;
    node.connect(this.#out);
    const startAt = Math.max(when, ctx.currentTime);
    node.start(startAt, late);
    const entry = { replyId: speech.reply_id, sentence: speech.sentence, tMs: speech.t_ms, when, node, timers: [] };
    node.onended = () => this.#forget(entry);
    this.#sources.push(entry);
    this.stats.scheduled += 1;
    const msUntil = (t) => Math.max(0, (t - ctx.currentTime) * 1000);
    entry.timers.push(setTimeout(() => this.#started(entry), msUntil(startAt)));
    for (const word of speech.words) {
      const at = when + (word.t_ms - speech.t_ms) / 1000;
      if (at < ctx.currentTime - 0.05) continue; // already past
      entry.timers.push(
        setTimeout(() => this.oncaption?.(speech.reply_id, word.offset, speech.sentence), msUntil(at)),
      );
    }
  }

  /** A scheduled sentence's start time came: count it and record when (performance.now()) it sounded. */
  #started(entry) {
    const ctx = this.#ctx;
    const audioAt = this.#perfAt(entry.when); // when its first sample is heard
    if (ctx.currentTime < entry.when - 0.001) {
      entry.timers.push(setTimeout(() => this.#started(entry), 5)); // the context clock lags the timer
      return;
    }
    entry.playing = true;
    this.stats.played += 1;
    const start = { replyId: entry.replyId, sentence: entry.sentence, tMs: entry.tMs, audioAt };
    this.stats.starts.push(start);
    if (this.stats.starts.length > 50) this.stats.starts.shift();
    this.onstart?.(start);
  }

  #forget(entry) {
    for (const t of entry.timers) clearTimeout(t);
    const i = this.#sources.indexOf(entry);
    if (i >= 0) this.#sources.splice(i, 1);
  }

  /**
   * The master clock while a sentence sounds: the server ms the audio is at (at `nowMs`), else null.
   */
  clockMs(nowMs = performance.now()) {
    const ctx = this.#ctx;
    const entry = this.#sources.find((s) => s.playing);
    if (!ctx || !entry || ctx.state !== "running") return null;
    return entry.tMs + (this.#ctxAt(nowMs) - entry.when) * 1000;
  }

  /**
   * The face must not pass this t_ms (the start of a sentence whose audio is not scheduled yet), or null:
   * when the audio comes late the face waits for it instead of running ahead of the voice.
   */
  holdMs() {
    let hold = null;
    for (const tMs of this.#waiting.values()) hold = hold === null ? tMs : Math.min(hold, tMs);
    return hold;
  }

  /** Stop and cancel the audio of `replyId` (every reply when omitted); late audio for it is dropped. */
  stop(replyId = null) {
    if (replyId !== null) this.#stopped.add(replyId);
    for (const entry of [...this.#sources]) {
      if (replyId !== null && entry.replyId !== replyId) continue;
      this.#stopped.add(entry.replyId);
      entry.node.onended = null;
      try {
        entry.node.stop();
      } catch {
        // never started
      }
      this.#forget(entry);
    }
    for (const key of [...this.#pending.keys()]) {
      if (replyId !== null && !key.startsWith(`${replyId}:`)) continue;
      this.#stopped.add(Number(key.split(":")[0]));
      this.#pending.delete(key);
    }
    for (const key of [...this.#waiting.keys()]) {
      if (replyId === null || key.startsWith(`${replyId}:`)) this.#waiting.delete(key);
    }
  }

  /**
   * The user talks over the voice (barge-in `duck`): silent within ~30 ms (a 10 ms time constant), the
   * sentences going on underneath, so `resume` (a cough, an echo) brings the voice back where it is by then.
   */
  duck(on) {
    this.stats.ducked = Boolean(on);
    if (!this.#out) return;
    this.#out.gain.setTargetAtTime(on ? 0 : 1, this.#ctx.currentTime, 0.01);
  }

  /** A new session: reply ids restart. */
  reset() {
    this.stop();
    this.#stopped.clear();
  }
}
