// The conversation panel: the user's messages and Mien's streamed replies (a safe markdown subset), each
// emotion cue shown as a chip at its offset in the text, coloured from the emotion's pleasure-arousal-
// dominance, with the text it colours tinted to match. A resumed conversation is shown from the server's
// history, its replies with their chips. While the voice speaks, the word sounding is underlined. Driven only
// by <mien-avatar> events: the element's built-in chat is this, and any page can build its own from it.

import { padTable, paint } from "./colors.js";
import { renderMarkdown } from "./markdown.js";
import { IDLE_CLOSE, MOVED_CLOSE } from "./protocol.js";

const CAPTION = "mien-caption"; // the CSS highlight of the word being spoken (style.css ::highlight)
const CAPTION_HOLD_MS = 1500; // the highlight fades when no word follows for this long
const WORD_CHAR = /[\p{L}\p{N}]/u;

// CSS.highlights is one registry per document, so every panel on the page (two <mien-avatar>s, say) shares
// one Highlight under CAPTION and adds and removes only its own word's range.
let captions = null;

function captionHighlight() {
  if (!globalThis.CSS?.highlights || !globalThis.Highlight) return null;
  captions ??= new Highlight();
  if (CSS.highlights.get(CAPTION) !== captions) CSS.highlights.set(CAPTION, captions);
  return captions;
}

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
class ReplyView {
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

const STATUS_LABEL = { interrupted: "interrupted", error: "failed" };

export class ChatPanel {
  #list;
  #avatar;
  #replies = new Map(); // reply_id -> ReplyView, for the current session (ids restart per session)
  #pads = new Map();
  #shown = null; // {sessionId, personaId} of the conversation on screen
  #skipResume = false; // the next history(resume) repeats what is already on screen
  #spoken = new Map(); // reply_id -> ReplyView, kept past reply_end: its voice may still be playing
  #captionTimer = 0;
  #captionRange = null; // this panel's range in the shared caption highlight

  /** `list` is an <ol> (role="log"); `avatar` the <mien-avatar> whose conversation it shows. */
  constructor(list, avatar) {
    this.#list = list;
    this.#avatar = avatar;
    const on = (type, fn) => avatar.addEventListener(type, (e) => fn(e.detail));
    on("usermessage", (d) => !d.greeting && this.#message(d.scripted ? "script" : "user", d.text));
    on("reply", (d) => this.#startReply(d));
    on("text", (d) => this.#reply(d.replyId)?.addText(d.offset, d.delta));
    on("emotion", (d) => this.#cue(d));
    on("gesture", (d) => this.#reply(d.replyId)?.addCue(d));
    on("replyend", (d) => this.#endReply(d));
    on("caption", (d) => this.#caption(d));
    // A turn not stored yet (`not_saved`) was still shown and spoken: the reply did not fail.
    on("error", (d) => {
      if (d.replyId != null && d.code !== "not_saved") this.#reply(d.replyId)?.item.classList.add("failed");
    });
    on("connect", (d) => this.#connected(d));
    on("history", (d) => this.#history(d));
    on("disconnect", (d) => {
      const waiting = {
        [IDLE_CLOSE]: "Paused while idle; send a message to go on.",
        [MOVED_CLOSE]: "This conversation went on in another window; send a message to bring it back here.",
      };
      const note = d.retrying ? "Connection lost; reconnecting…" : (waiting[d.code] ?? "Disconnected.");
      if (this.#shown) this.#note(note, "warn");
    });
  }

  #pad = (name) => this.#pads.get(name) ?? null;

  #add(item) {
    const list = this.#list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    list.append(item);
    if (atBottom) list.scrollTop = list.scrollHeight; // an instant jump: no smooth scrolling
    return item;
  }

  #item(kind) {
    const item = document.createElement("li");
    item.className = `msg ${kind}`;
    const text = document.createElement("div");
    text.className = "text";
    item.append(text);
    return item;
  }

  #message(kind, text) {
    const item = this.#item(kind);
    item.querySelector(".text").textContent = text;
    if (kind === "script") item.dataset.label = "scripted line";
    return this.#add(item);
  }

  #note(text, kind = "") {
    const item = document.createElement("li");
    item.className = `note ${kind}`.trim();
    item.textContent = text;
    return this.#add(item);
  }

  #connected({ hello, reason }) {
    this.#replies.clear();
    this.#spoken.clear();
    this.#pads = padTable(hello);
    const shown = this.#shown;
    const next = { sessionId: hello.session_id, personaId: hello.persona?.id };
    this.#shown = next;
    this.#skipResume = false;
    if (!shown) return; // the first session: a resumed history fills the empty log
    if (shown.sessionId === next.sessionId) {
      this.#skipResume = true; // the log already shows this conversation
      this.#note("Reconnected; the conversation continues.");
    } else if (reason === "persona" || shown.personaId !== next.personaId) {
      this.#list.replaceChildren(); // another persona: its own conversation
      this.#note(`Now talking with ${hello.persona?.name ?? "a new persona"}.`);
    } else {
      this.#note("Reconnected in a new session; earlier messages are not remembered.", "warn");
    }
  }

  #history({ reason, turns }) {
    if (reason === "clear") {
      this.#replies.clear();
      this.#list.replaceChildren();
      this.#note("Conversation cleared.");
    } else if (reason === "resume" && !this.#skipResume && turns.length) {
      this.#note(`Earlier conversation restored (${turns.length} messages).`);
      for (const turn of turns) this.#restore(turn);
    }
    if (reason === "resume") this.#skipResume = false;
  }

  #restore({ role, content, status, cues = [], gestures = [] }) {
    if (role === "user") {
      this.#message("user", content).classList.add("restored");
      return;
    }
    const item = this.#item("mien");
    item.classList.add("restored");
    const view = new ReplyView(this.#add(item), this.#pad);
    const shown = [...cues.map((c) => ({ ...c, confidence: c.confidence ?? 1 })), ...gestures]; // gesture chips too
    view.restoreCues(shown.map((c) => ({ ...c, replyId: null })).sort((a, b) => a.offset - b.offset));
    this.#finishView(view, status, content);
  }

  #reply(replyId) {
    return this.#replies.get(replyId);
  }

  #startReply({ replyId }) {
    const item = this.#item("mien");
    item.setAttribute("aria-busy", "true");
    const view = new ReplyView(this.#add(item), this.#pad);
    this.#replies.set(replyId, view);
    this.#spoken.set(replyId, view);
    while (this.#spoken.size > 8) this.#spoken.delete(this.#spoken.keys().next().value);
  }

  /** The word being spoken, highlighted in its reply (CSS Custom Highlight API where available). */
  #caption({ replyId, offset }) {
    const view = this.#spoken.get(replyId);
    if (!view) return;
    for (const el of this.#list.querySelectorAll("[data-caption]")) delete el.dataset.caption;
    this.#setCaption(view.caption(offset));
    clearTimeout(this.#captionTimer);
    this.#captionTimer = setTimeout(() => {
      this.#setCaption(null);
      delete view.item.dataset.caption;
    }, CAPTION_HOLD_MS);
  }

  #setCaption(range) {
    const highlight = captionHighlight();
    if (this.#captionRange) highlight?.delete(this.#captionRange);
    this.#captionRange = range;
    if (range) highlight?.add(range);
  }

  #cue(cue) {
    if (cue.replyId != null) {
      this.#reply(cue.replyId)?.addCue(cue);
      return;
    }
    // A pose the user asked for (show button, setEmotion): one note, updated in place while repeated.
    const last = this.#list.lastElementChild;
    const note = last?.classList.contains("pose") ? last : this.#note("", "pose");
    note.replaceChildren("Showing ", chip(cue, this.#pad(cue.emotion)), ` at ${cue.intensity.toFixed(2)}`);
  }

  #endReply({ replyId, status, text }) {
    const view = this.#reply(replyId);
    if (!view) return;
    this.#finishView(view, status, text ?? view.text);
    this.#replies.delete(replyId);
  }

  #finishView(view, status, text) {
    view.finish(text);
    view.item.removeAttribute("aria-busy");
    view.item.dataset.done = status;
    if (STATUS_LABEL[status]) {
      view.item.classList.add(status);
      view.item.dataset.label = STATUS_LABEL[status];
    }
  }
}
