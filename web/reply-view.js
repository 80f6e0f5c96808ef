// One reply in the chat: its text (a safe markdown subset, streamed in deltas), each emotion cue as a chip at
// its offset, the text it colours tinted to match, and the word being spoken found in the rendered text.

import { paint } from "./colors.js";
import { renderMarkdown } from "./markdown.js";

const WORD_CHAR = /[\p{L}\p{N}]/u;

/** A cue's chip: the emotion's name, its source and confidence on hover ("tag · 100%"); a gesture's
 * chip (`cue.gesture`: nod, shake, …) looks different: a movement, not a feeling. */
export function chip(cue, pad) {
  const el = document.createElement("span");
  if (cue.gesture) {
    el.className = "chip gesture";
    el.textContent = cue.gesture;
    el.title = `gesture · ${cue.source}`;
    el.dataset.gesture = cue.gesture;
    el.dataset.source = cue.source; // an inferred one is dotted, as an inferred emotion's chip
    return el;
  }
  el.className = "chip";
  el.textContent = cue.emotion;
  const confidence = `${Math.round((cue.confidence ?? 1) * 100)}%`;
  el.title = `${cue.source} · ${confidence}`;
  el.dataset.source = cue.source;
  el.dataset.intensity = cue.intensity.toFixed(2);
  paint(el, pad, cue.intensity);
  return el;
}

function tone(cue, pad) {
  const el = document.createElement("span");
  el.className = "tone";
  paint(el, pad, cue.intensity);
  return el;
}

/** One reply's text and cues; offsets are in code points, as on the wire. Redrawn whole on every change. */
export class ReplyView {
  #body;
  #padOf;
  #points = []; // the visible text, one entry per code point
  #cues = []; // in arrival order (the renderer sorts stably by offset)
  #map = null; // the SourceMap of the latest drawing: raw-text positions -> rendered text

  constructor(item, padOf) {
    this.item = item;
    this.#body = item.querySelector(".text");
    this.#padOf = padOf;
  }

  get text() {
    return this.#points.join("");
  }

  addText(offset, delta) {
    // Deltas are contiguous; on a gap or overlap (should not happen) trust the offset.
    this.#points.splice(offset, Infinity, ...Array.from(delta));
    this.#draw();
  }

  /**
   * The word starting at code point `offset` of the raw text is being spoken: the Range of its rendered
   * characters (markup such as ** or a link's URL is not shown, so it is mapped, not searched), or null.
   */
  caption(offset) {
    const raw = this.text;
    let start = this.#points.slice(0, offset).join("").length; // code points -> UTF-16
    let end = start;
    while (end < raw.length && !/\s/u.test(raw[end])) end++;
    while (start < end && !WORD_CHAR.test(raw[start])) start++; // leading markup or punctuation
    while (end > start && !WORD_CHAR.test(raw[end - 1])) end--;
    const range = start < end ? this.#map?.range(start, end) : null;
    if (range) this.item.dataset.caption = range.toString();
    return range ?? null;
  }

  addCue(cue) {
    this.#cues.push(cue);
    this.#draw();
  }

  /** Cues of a restored reply, all at once (drawn with its text by finish()). */
  restoreCues(cues) {
    this.#cues.push(...cues);
  }

  /** The final text from reply_end wins over what streamed. */
  finish(text) {
    if (text !== this.text) this.#points = Array.from(text);
    this.#draw();
  }

  #draw() {
    this.#map = renderMarkdown(this.#body, this.text, {
      cues: this.#cues,
      chip: (cue) => chip(cue, cue.gesture ? null : this.#padOf(cue.emotion)),
      tone: (cue) => tone(cue, this.#padOf(cue.emotion)),
    });
  }
}
