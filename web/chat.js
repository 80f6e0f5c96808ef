// The conversation panel: the user's messages and Mien's streamed replies, each emotion cue shown as a chip
// at its offset in the text, with the text it colours tinted in the emotion's hue. Driven only by
// <mien-avatar> events, so any page that hosts the element can reuse it.

/** A stable, well-spread hue per emotion, from its position in the server's list (no names hard-coded). */
export function emotionHue(emotions, name) {
  const i = emotions.indexOf(name);
  return i < 0 ? null : Math.round((i * 137.508 + 20) % 360); // golden-angle steps: neighbours differ most
}

function chip(cue, hue) {
  const el = document.createElement("span");
  el.className = "chip";
  el.textContent = cue.emotion;
  el.title = `${cue.emotion} · ${cue.intensity.toFixed(2)} (${cue.source})`;
  if (hue !== null) el.style.setProperty("--hue", hue);
  return el;
}

/** One reply's text and cues; offsets are in code points, as on the wire. */
class ReplyView {
  #body;
  #hueOf;
  #points = []; // the visible text, one entry per code point
  #cues = []; // sorted by offset (stable)
  #placed = 0; // cues already in the DOM
  #rendered = 0; // code points already in the DOM
  #tone = null; // where text goes: the span after the latest chip

  constructor(item, hueOf) {
    this.item = item;
    this.#body = item.querySelector(".text");
    this.#hueOf = hueOf;
    this.#tone = this.#body;
  }

  get text() {
    return this.#points.join("");
  }

  addText(offset, delta) {
    const points = Array.from(delta);
    if (offset === this.#points.length) {
      this.#points.push(...points);
      this.#flush();
    } else {
      // A gap or overlap (should not happen): trust the offset and redraw.
      this.#points.splice(offset, Infinity, ...points);
      this.#redraw();
    }
  }

  addCue(cue) {
    let at = this.#cues.length;
    while (at > 0 && this.#cues[at - 1].offset > cue.offset) at--;
    this.#cues.splice(at, 0, cue);
    if (at < this.#placed || cue.offset < this.#rendered) this.#redraw();
    else this.#flush();
  }

  /** The final text from reply_end wins over what streamed. */
  finish(text) {
    if (text !== this.text) {
      this.#points = Array.from(text);
      this.#redraw();
    }
  }

  #redraw() {
    this.#body.replaceChildren();
    this.#tone = this.#body;
    this.#placed = this.#rendered = 0;
    this.#flush();
  }

  /** Append everything not yet shown: text up to each cue's offset, then the cue's chip, and so on. */
  #flush() {
    const cues = this.#cues;
    let at = this.#rendered;
    for (;;) {
      while (this.#placed < cues.length && cues[this.#placed].offset <= at) this.#chip(cues[this.#placed++]);
      if (at >= this.#points.length) break;
      const next = this.#placed < cues.length ? cues[this.#placed].offset : Infinity;
      const end = Math.min(this.#points.length, next);
      this.#append(this.#points.slice(at, end).join(""));
      at = end;
    }
    this.#rendered = at;
  }

  #chip(cue) {
    const hue = this.#hueOf(cue.emotion);
    const tone = document.createElement("span");
    tone.className = "tone";
    if (hue !== null) tone.style.setProperty("--hue", hue);
    this.#body.append(chip(cue, hue), tone);
    this.#tone = tone;
  }

  #append(text) {
    const last = this.#tone.lastChild;
    if (last?.nodeType === Node.TEXT_NODE) last.appendData(text);
    else this.#tone.append(text);
  }
}

const STATUS_LABEL = { interrupted: "interrupted", error: "failed" };

export class ChatPanel {
  #list;
  #avatar;
  #replies = new Map(); // reply_id -> ReplyView, for the current session (ids restart per session)
  #wasConnected = false;

  /** `list` is an <ol> (role="log"); `avatar` the <mien-avatar> whose conversation it shows. */
  constructor(list, avatar) {
    this.#list = list;
    this.#avatar = avatar;
    const on = (type, fn) => avatar.addEventListener(type, (e) => fn(e.detail));
    on("usermessage", (d) => this.#message(d.scripted ? "script" : "user", d.text));
    on("reply", (d) => this.#startReply(d));
    on("text", (d) => this.#reply(d.replyId)?.addText(d.offset, d.delta));
    on("emotion", (d) => this.#cue(d));
    on("replyend", (d) => this.#endReply(d));
    on("error", (d) => d.replyId != null && this.#reply(d.replyId)?.item.classList.add("failed"));
    on("connect", () => this.#connected());
    on("disconnect", () => this.#wasConnected && this.#note("Connection lost; reconnecting…", "warn"));
  }

  #hue = (name) => emotionHue(this.#avatar.emotions, name);

  #add(item) {
    const list = this.#list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    list.append(item);
    if (atBottom) list.scrollTop = list.scrollHeight;
    return item;
  }

  #item(kind) {
    const item = document.createElement("li");
    item.className = `msg ${kind}`;
    const text = document.createElement("p");
    text.className = "text";
    item.append(text);
    return item;
  }

  #message(kind, text) {
    const item = this.#item(kind);
    item.querySelector(".text").textContent = text;
    if (kind === "script") item.dataset.label = "scripted line";
    this.#add(item);
  }

  #note(text, kind = "") {
    const item = document.createElement("li");
    item.className = `note ${kind}`.trim();
    item.textContent = text;
    return this.#add(item);
  }

  #connected() {
    this.#replies.clear();
    if (this.#wasConnected) this.#note("Reconnected (new session).");
    this.#wasConnected = true;
  }

  #reply(replyId) {
    return this.#replies.get(replyId);
  }

  #startReply({ replyId }) {
    const item = this.#item("mien");
    item.setAttribute("aria-busy", "true");
    this.#replies.set(replyId, new ReplyView(this.#add(item), this.#hue));
  }

  #cue(cue) {
    if (cue.replyId != null) {
      this.#reply(cue.replyId)?.addCue(cue);
      return;
    }
    // A pose the user asked for (show button, setEmotion): one note, updated in place while repeated.
    const last = this.#list.lastElementChild;
    const note = last?.classList.contains("pose") ? last : this.#note("", "pose");
    note.replaceChildren("Showing ", chip(cue, this.#hue(cue.emotion)), ` at ${cue.intensity.toFixed(2)}`);
  }

  #endReply({ replyId, status, text }) {
    const view = this.#reply(replyId);
    if (!view) return;
    view.finish(text ?? view.text);
    view.item.removeAttribute("aria-busy");
    view.item.dataset.done = status;
    if (STATUS_LABEL[status]) {
      view.item.classList.add(status);
      view.item.dataset.label = STATUS_LABEL[status];
    }
    this.#replies.delete(replyId);
  }
}
