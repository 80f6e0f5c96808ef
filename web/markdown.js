// A small, safe markdown subset for model replies, built with DOM APIs only (createElement, text nodes; never
// innerHTML), so nothing in a reply can become markup: `<img onerror=…>` and `<script>` stay text.
//   blocks   paragraphs (blank-line separated), fenced code (``` or ~~~), bullet and numbered lists,
//            "#" headings (drawn as bold paragraphs: a chat log keeps the page's heading outline)
//   inlines  **bold** __bold__ *italic* _italic_ `code` [text](url) and bare URLs; backslash escapes
//   links    only absolute http:, https: and mailto: URLs, opened with target=_blank and
//            rel="noopener noreferrer"; anything else stays literal text
// Emotion cues sit at code-point offsets of the raw text; renderMarkdown places each cue's chip before the
// first visible character at or after its offset, and wraps the text after it in a "tone" element. It
// returns a SourceMap from raw-text positions to the text nodes written, so a word the voice speaks (an
// offset into the raw text) is found in the rendered text even where markup changed it. Parsing is
// markdown-parse.js; this module renders.

import { parseBlocks, parseInline } from "./markdown-parse.js";

/**
 * Where each rendered character came from: text nodes hold exact slices of the source (markup and escape
 * backslashes are left out), so a source index maps to one node and offset, and markup maps to nothing.
 */
export class SourceMap {
  #chunks; // [{node, at, start, end}]: node.data[at, at + end - start) === src[start, end); in source order

  constructor(chunks) {
    this.#chunks = chunks;
  }

  /** A Range over the rendered characters of src[start, end) (UTF-16 indices), or null if none shows. */
  range(start, end) {
    const hit = this.#chunks.filter((c) => c.end > start && c.start < end);
    if (!hit.length) return null;
    const first = hit[0];
    const last = hit.at(-1);
    const range = document.createRange();
    range.setStart(first.node, first.at + Math.max(start, first.start) - first.start);
    range.setEnd(last.node, last.at + Math.min(end, last.end) - last.start);
    return range;
  }
}

/** Writes parsed nodes into the DOM, placing cue chips at their offsets and tinting the text after them. */
class Writer {
  #src;
  #cues;
  #at; // each cue's offset as a UTF-16 index
  #k = 0; // cues placed so far
  #chip;
  #tone;
  #toneCue = null; // the cue whose tone the text takes now
  #toneSpan = null; // the latest tone element written
  last = null; // the element that got the latest text (remaining chips go there)
  chunks = []; // what the SourceMap is made of

  constructor(src, cues, chip, tone) {
    this.#src = src;
    this.#cues = cues;
    this.#chip = chip;
    this.#tone = tone;
    const units = [];
    let u = 0;
    for (const ch of src) {
      units.push(u);
      u += ch.length;
    }
    units.push(u);
    this.#at = cues.map((cue) => units[Math.min(Math.max(0, cue.offset), units.length - 1)]);
  }

  block(b) {
    const src = this.#src;
    if (b.type === "code") {
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      pre.append(code);
      this.text(code, b.start, b.end);
      return pre;
    }
    if (b.type === "list") {
      const list = document.createElement(b.ordered ? "ol" : "ul");
      if (b.ordered && b.first !== 1) list.start = b.first;
      for (const item of b.items) {
        const li = document.createElement("li");
        this.inlines(li, parseInline(src, item.start, item.end));
        list.append(li);
      }
      return list;
    }
    const p = document.createElement("p");
    let into = p;
    if (b.type === "h") {
      p.className = "md-heading";
      into = p.appendChild(document.createElement("strong"));
    }
    this.inlines(into, parseInline(src, b.start, b.end));
    return p;
  }

  inlines(parent, nodes) {
    for (const node of nodes) {
      if (node.type === "text") {
        this.text(parent, node.start, node.end);
        continue;
      }
      const el = document.createElement(node.type === "link" ? "a" : node.type);
      parent.append(el);
      if (node.type === "code") {
        this.text(el, node.start, node.end);
        continue;
      }
      if (node.type === "link") {
        el.href = node.href;
        el.target = "_blank";
        el.rel = "noopener noreferrer";
      }
      this.inlines(el, node.children);
    }
  }

  text(parent, start, end) {
    for (let pos = start; pos < end; ) {
      while (this.#k < this.#at.length && this.#at[this.#k] <= pos) this.chip(parent);
      const stop = this.#k < this.#at.length ? Math.min(end, this.#at[this.#k]) : end;
      if (stop > pos) this.#write(parent, pos, stop);
      pos = stop;
    }
    this.last = parent;
  }

  /** Place the next cue's chip in `parent`; the text after it takes its tone. */
  chip(parent) {
    const cue = this.#cues[this.#k++];
    if (this.#chip) parent.append(this.#chip(cue));
    if (cue.gesture) return; // a gesture's chip leaves the text's tone as it is
    this.#toneCue = cue;
    this.#toneSpan = null;
  }

  /** Chips for cues past the last character. */
  rest(fallback) {
    while (this.#k < this.#cues.length) this.chip(this.last ?? fallback);
  }

  /** Write src[start, end) as text into `parent` (or its current tone element), noting where it went. */
  #write(parent, start, end) {
    const s = this.#src.slice(start, end);
    let into = parent;
    if (this.#toneCue && this.#tone) {
      if (this.#toneSpan?.parentNode !== parent || parent.lastChild !== this.#toneSpan) {
        this.#toneSpan = this.#tone(this.#toneCue);
        parent.append(this.#toneSpan);
      }
      into = this.#toneSpan;
    }
    let node = into.lastChild;
    if (node?.nodeType !== Node.TEXT_NODE) node = into.appendChild(document.createTextNode(""));
    this.chunks.push({ node, at: node.length, start, end });
    node.appendData(s);
  }
}

/**
 * Render `src` into `target` (emptied first). `cues` [{offset, …}] (code points of `src`) get `chip(cue)`
 * elements at their offsets, and the text after each goes into a `tone(cue)` element. A reply that is one
 * paragraph is written straight into `target`; otherwise each block is a child (p, pre, ul, ol).
 * Returns the SourceMap of what was written.
 */
export function renderMarkdown(target, src, { cues = [], chip = null, tone = null } = {}) {
  const sorted = [...cues].sort((a, b) => a.offset - b.offset); // stable: equal offsets keep their order
  const writer = new Writer(src, sorted, chip, tone);
  const blocks = parseBlocks(src);
  target.replaceChildren();
  if (blocks.length === 1 && blocks[0].type === "p") {
    writer.inlines(target, parseInline(src, blocks[0].start, blocks[0].end));
  } else {
    for (const block of blocks) target.append(writer.block(block));
  }
  writer.rest(target);
  return new SourceMap(writer.chunks);
}
