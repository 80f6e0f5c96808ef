// The conversation panel: the user's messages and Mien's streamed replies (a safe markdown subset), each
// emotion cue shown as a chip at its offset in the text, coloured from the emotion's pleasure-arousal-
// dominance, with the text it colours tinted to match. A resumed conversation is shown from the server's
// history, its replies with their chips. While the voice speaks, the word sounding is underlined. Driven only
// by <mien-avatar> events: the element's built-in chat is this, and any page can build its own from it.

import { padTable } from "./colors.js";
import { IDLE_CLOSE, MOVED_CLOSE } from "./protocol.js";
import { guidanceNote } from "./guidance.js";
import { chip, ReplyView } from "./reply-view.js";
import { scorecard } from "./scorecard.js";

const CAPTION = "mien-caption"; // the CSS highlight of the word being spoken (style.css ::highlight)
const CAPTION_HOLD_MS = 1500; // the highlight fades when no word follows for this long

// CSS.highlights is one registry per document, so every panel on the page (two <mien-avatar>s, say) shares
// one Highlight under CAPTION and adds and removes only its own word's range.
let captions = null;

function captionHighlight() {
  if (!globalThis.CSS?.highlights || !globalThis.Highlight) return null;
  captions ??= new Highlight();
  if (CSS.highlights.get(CAPTION) !== captions) CSS.highlights.set(CAPTION, captions);
  return captions;
}

const STATUS_LABEL = { interrupted: "interrupted", error: "failed" };

/** What the describing model saw in the user's picture (the words the reply answers from), folded. */
function seenNote({ model, description }) {
  const note = document.createElement("details");
  note.className = "guidance seen";
  const summary = Object.assign(document.createElement("summary"), { textContent: `seen by ${model}` });
  note.append(summary, Object.assign(document.createElement("p"), { textContent: description }));
  return note;
}

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
  #spokenTurn = null; // {turn, item} the user's words while they speak, until the final transcript
  #heardLast = null; // the last spoken turn made final, until a reply answers it

  /** `list` is an <ol> (role="log"); `avatar` the <mien-avatar> whose conversation it shows. */
  constructor(list, avatar) {
    this.#list = list;
    this.#avatar = avatar;
    const on = (type, fn) => avatar.addEventListener(type, (e) => fn(e.detail));
    on("usermessage", (d) => !d.greeting && this.#message(d.scripted ? "script" : "user", d.text, d.image));
    on("reply", (d) => this.#startReply(d));
    on("text", (d) => this.#reply(d.replyId)?.addText(d.offset, d.delta));
    on("emotion", (d) => this.#cue(d));
    on("gesture", (d) => this.#reply(d.replyId)?.addCue(d));
    on("replyend", (d) => this.#endReply(d));
    on("caption", (d) => this.#caption(d));
    on("evaluation", (d) => this.#spoken.get(d.replyId)?.item.append(scorecard(d)));
    on("guidance", (d) => this.#reply(d.replyId)?.item.append(guidanceNote(d)));
    on("vision", (d) => this.#reply(d.replyId)?.item.append(seenNote(d)));
    on("speechstart", (d) => this.#heard(d.turn, "", false));
    on("transcript", (d) => this.#heard(d.turn, d.text, d.final));
    on("speechend", (d) => d.reason === "discarded" && this.#heard(d.turn, "", true));
    // Said over the avatar and not meant for it (a "mhm", an echo): no message, so no bubble either.
    on("bargein", (d) => d.action === "resume" && this.#heardLast?.remove());
    on("reply", () => (this.#heardLast = null));
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

  #message(kind, text, image = null) {
    const item = this.#item(kind);
    item.querySelector(".text").textContent = text;
    if (image) {
      const img = Object.assign(document.createElement("img"), { src: image, alt: "the picture you showed" });
      item.prepend(Object.assign(img, { className: "picture" }));
    }
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

  /**
   * The user's spoken turn: one message shown from their first word (partial transcripts replace its text
   * as they come), made final by the last transcript, or taken away when it was not speech after all.
   */
  #heard(turn, text, final) {
    let spoken = this.#spokenTurn;
    if (spoken?.turn !== turn) {
      if (final && !text) return;
      const item = this.#message("user", text);
      item.classList.add("spoken");
      item.setAttribute("aria-busy", "true");
      spoken = this.#spokenTurn = { turn, item };
    }
    const { item } = spoken;
    if (final && !text) {
      item.remove();
    } else {
      item.querySelector(".text").textContent = text;
      if (!final) return;
      item.removeAttribute("aria-busy");
      item.dataset.label = "spoken";
      this.#heardLast = item;
    }
    this.#spokenTurn = null;
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
