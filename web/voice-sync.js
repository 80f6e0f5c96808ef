// The voice half of <mien-avatar>: the VoicePlayer (web/audio.js) tied to the face's frame clock, the
// playout delay that lets the mouth meet the sound, and the per-sentence audio-to-face measurements behind
// `voiceStats`. The session's speech messages and audio reach it through avatar-parts.js.

import { AUDIO_KIND, VoicePlayer } from "./audio.js";
import { SMOOTH_DELAY_MS } from "./frames.js";

const PLAYOUT_DELAY_MS = 150; // frames wait this long while the voice is on, so audio and mouth line up
const MAX_PLAYOUT_DELAY_MS = 500; // ... or up to this long when audio arrives (or decodes) too late
const MAX_SYNC = 50; // sentences measured, kept for voiceStats

export class VoiceSync {
  #view;
  #emit;
  #player;
  #on = false;
  #sync = new Map(); // "replyId:sentence" -> {replyId, sentence, tMs, audioAt, faceAt, ...}: A/V measurements

  /** `view`: the AvatarView whose frames the voice follows; `emit(type, detail)`: the element's events. */
  constructor(view, emit) {
    this.#view = view;
    this.#emit = emit;
    this.#player = new VoicePlayer((tMs) => view.perfAt(tMs));
    this.#player.oncaption = (replyId, offset, sentence) => emit("caption", { replyId, offset, sentence });
    this.#player.onlate = (ms) => {
      const delay = Math.min(MAX_PLAYOUT_DELAY_MS, view.delayMs + ms + 30);
      if (this.#on) view.delayMs = delay; // the face waits for the voice
    };
    this.#player.onstart = (start) => this.#measure(start, "audioAt", start.audioAt);
    view.onshow = (tMs, now) => {
      for (const s of this.#sync.values()) {
        if (s.faceAt === null && tMs >= s.tMs) this.#measure(s, "faceAt", now, tMs);
        else if (s.faceAt === null) s.prevFaceAt = now;
      }
    };
  }

  get on() {
    return this.#on;
  }

  /**
   * Whether audio may start now: creates (or resumes) the AudioContext, which the browser leaves suspended
   * until the page has had a user gesture; false without Web Audio.
   */
  canStart() {
    try {
      return this.#player.unlock().state === "running";
    } catch {
      return false;
    }
  }

  /**
   * Turn playback on or off. On: create/resume the AudioContext (throws without Web Audio), show frames
   * PLAYOUT_DELAY_MS late and let the audio be the face's clock while a sentence sounds.
   */
  enable(on) {
    if (on) this.#player.unlock();
    else this.#player.stop();
    this.#on = on;
    this.#view.delayMs = on ? PLAYOUT_DELAY_MS : SMOOTH_DELAY_MS;
    this.#view.clock = on ? (now) => this.#player.clockMs(now) : null;
    this.#view.hold = on ? () => this.#player.holdMs() : null;
  }

  /**
   * setVoice's check and switch: false (and an `error` event) when `hello` says the server cannot speak or
   * the browser has no Web Audio; else `enable(on)` and true.
   */
  turn(on, hello) {
    if (on && hello && !hello.voice) {
      this.#error("voice_unavailable", "this server cannot speak (hello.voice is false)");
      return false;
    }
    try {
      this.enable(on);
    } catch (err) {
      this.#error("audio_unavailable", String(err?.message ?? err));
      return false;
    }
    return true;
  }

  /** Cut the audio of every reply (or of `replyId`) at once. */
  stop(replyId = null) {
    this.#player.stop(replyId);
  }

  /** A new session: reply ids restart. */
  reset() {
    this.#player.reset();
    this.#sync.clear();
  }

  /** A binary message that is not a frame: a sentence's audio while the voice is on. */
  onBinary(buffer) {
    if (!this.#on || new DataView(buffer).getUint8(0) !== AUDIO_KIND) return;
    this.#player.play(buffer).catch((err) => this.#error("audio_decode_failed", String(err?.message ?? err)));
  }

  /** Every server message: `speech` announces a sentence's audio; a reply ended early or talked over by
   * the user (`barge_in`) cuts its voice. */
  onMessage(m) {
    if (m.type === "speech" && this.#on) {
      this.#player.expect(m);
      const { reply_id: replyId, sentence, t_ms: tMs } = m;
      this.#sync.set(`${replyId}:${sentence}`, {
        ...{ replyId, sentence, tMs, audioAt: null, faceAt: null, prevFaceAt: null, faceTMs: null },
        offsetMs: null,
      });
      while (this.#sync.size > MAX_SYNC) this.#sync.delete(this.#sync.keys().next().value);
    }
    if (m.type === "reply_end" && m.status !== "complete") this.#player.stop(m.reply_id);
    if (m.type === "reply_start") this.#player.duck(false); // a new reply is heard whatever came before
    if (m.type === "barge_in") {
      // The user talks over the voice: silent at once; stopped for good, or back if it was not meant for it.
      if (m.action === "stop") this.#player.stop(m.reply_id);
      this.#player.duck(m.action === "duck");
    }
  }

  /** {decoded, scheduled, played, late, ducked, starts, delayMs, offsetMs, sync: [...]} (docs/element.md, voiceStats). */
  get stats() {
    const { decoded, scheduled, played, late, ducked } = this.#player.stats;
    const starts = this.#player.stats.starts.map((s) => ({ ...s })); // when each sentence began sounding
    const sync = [...this.#sync.values()].map((s) => ({ ...s }));
    const measured = sync.filter((s) => s.offsetMs !== null);
    const offsetMs = measured.length ? measured.at(-1).offsetMs : null;
    return { decoded, scheduled, played, late, ducked, starts, delayMs: this.#view.delayMs, offsetMs, sync };
  }

  #error(code, message) {
    this.#emit("error", { code, message, replyId: null, source: "client" });
  }

  /** One half of an A/V measurement (the audio started, or the face showed the sentence's first frame). */
  #measure(start, field, at, faceTMs = null) {
    const s = this.#sync.get(`${start.replyId}:${start.sentence}`);
    if (!s) return;
    s[field] = at;
    if (faceTMs !== null) s.faceTMs = faceTMs;
    if (s.audioAt !== null && s.faceAt !== null) s.offsetMs = s.faceAt - s.audioAt;
  }
}
