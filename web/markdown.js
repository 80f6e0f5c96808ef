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
// offset into the raw text) is found in the rendered text even where markup changed it.

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
const PUNCT = /[!-/:-@[-`{-~]/; // ASCII punctuation: what a backslash escapes
const WORD = /[\p{L}\p{N}]/u;
const SPACE = /\s/;
const FENCE = /^ {0,3}(`{3,}|~{3,})[^`]*$/;
const ITEM = /^ {0,3}(?:[-*+]|(\d{1,9})[.)])[ \t]+/;
const HEADING = /^ {0,3}#{1,6}[ \t]+/;
const BLANK = /^[ \t]*$/;
const BARE_URL = /(?:https?:\/\/|mailto:)[^\s<>"'`]+/y;

/** `raw` as a link target if it is an absolute http(s)/mailto URL, else null. */
export function safeHref(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    return null; // relative or malformed
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
}

// ---------------------------------------------------------------- blocks

function closesFence(line, mark) {
  const m = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(line);
  return m !== null && m[1][0] === mark[0] && m[1].length >= mark.length;
}

/** Blocks with source ranges (UTF-16 indices): p, h, code, list {ordered, first, items: [{start, end}]}. */
export function parseBlocks(src) {
  const lines = [];
  for (let at = 0; ; ) {
    const nl = src.indexOf("\n", at);
    lines.push([at, nl < 0 ? src.length : nl]);
    if (nl < 0) break;
    at = nl + 1;
  }
  const blocks = [];
  let open = null; // the paragraph or list that the next line may continue
  for (let n = 0; n < lines.length; n++) {
    const [start, end] = lines[n];
    const line = src.slice(start, end);
    if (BLANK.test(line)) {
      open = null;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      let m = n + 1;
      while (m < lines.length && !closesFence(src.slice(...lines[m]), fence[1])) m++;
      const body = n + 1 < lines.length ? lines[n + 1][0] : end;
      const last = m > n + 1 ? lines[m - 1][1] : body; // an unclosed fence (still streaming) runs to the end
      blocks.push({ type: "code", start: body, end: last });
      n = m;
      open = null;
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      blocks.push({ type: "h", start: start + heading[0].length, end });
      open = null;
      continue;
    }
    const item = ITEM.exec(line);
    if (item) {
      const ordered = item[1] !== undefined;
      if (open?.type !== "list" || open.ordered !== ordered) {
        open = { type: "list", ordered, first: ordered ? Number(item[1]) : 1, items: [] };
        blocks.push(open);
      }
      open.items.push({ start: start + item[0].length, end });
    } else if (open?.type === "list") {
      open.items.at(-1).end = end; // a continuation line of the item
    } else if (open?.type === "p") {
      open.end = end;
    } else {
      open = { type: "p", start, end };
      blocks.push(open);
    }
  }
  return blocks;
}

// ---------------------------------------------------------------- inlines

function runLength(src, i, to, ch) {
  let j = i;
  while (j < to && src[j] === ch) j++;
  return j - i;
}

/** Start of the next run of exactly `n` × `ch` in [from, to), or -1. */
function findRun(src, from, to, ch, n) {
  for (let j = from; j < to; ) {
    if (src[j] !== ch) {
      j++;
      continue;
    }
    const r = runLength(src, j, to, ch);
    if (r === n) return j;
    j += r;
  }
  return -1;
}

function canOpen(src, i, n, to, ch) {
  if (i + n >= to || SPACE.test(src[i + n])) return false;
  return ch !== "_" || !WORD.test(src[i - 1] ?? ""); // snake_case stays text
}

/** The closing delimiter of emphasis opened before `from`, skipping escapes and code spans; or -1. */
function findClose(src, from, to, ch, n) {
  for (let j = from; j < to; ) {
    const c = src[j];
    if (c === "\\") {
      j += 2;
    } else if (c === "`") {
      const r = runLength(src, j, to, "`");
      const close = findRun(src, j + r, to, "`", r);
      j = close < 0 ? j + r : close + r;
    } else if (c === ch) {
      const r = runLength(src, j, to, ch);
      const closes = r === n && j > from && !SPACE.test(src[j - 1]);
      if (closes && !(ch === "_" && WORD.test(src[j + r] ?? ""))) return j;
      j += r;
    } else {
      j++;
    }
  }
  return -1;
}

function parseLink(src, i, to) {
  const close = src.indexOf("]", i + 1);
  if (close < 0 || close + 1 >= to || close === i + 1 || src[close + 1] !== "(") return null;
  if (src.slice(i + 1, close).includes("[")) return null;
  let depth = 0;
  let j = close + 2;
  for (; j < to; j++) {
    const c = src[j];
    if (SPACE.test(c)) return null;
    if (c === "(") depth++;
    else if (c === ")" && depth-- === 0) break;
  }
  if (j >= to) return null;
  const href = safeHref(src.slice(close + 2, j));
  return href && { href, textEnd: close, end: j + 1 };
}

function bareUrl(src, i, to) {
  BARE_URL.lastIndex = i;
  const m = BARE_URL.exec(src);
  if (!m) return null;
  let end = Math.min(to, i + m[0].length);
  while (end > i && /[.,;:!?)\]]/.test(src[end - 1])) {
    const inner = src.slice(i, end - 1);
    if (src[end - 1] === ")" && inner.split("(").length > inner.split(")").length) break; // (balanced)
    end--;
  }
  const href = safeHref(src.slice(i, end));
  return href && { href, end };
}

/** Inline nodes of src[from, to): text/code {start, end}, strong/em {children}, link {href, children}. */
export function parseInline(src, from, to) {
  const nodes = [];
  let text = from; // where the pending text run starts
  const flush = (end) => end > text && nodes.push({ type: "text", start: text, end });
  for (let i = from; i < to; ) {
    const c = src[i];
    let node = null;
    let next = i + 1;
    if (c === "\\" && i + 1 < to && PUNCT.test(src[i + 1])) {
      flush(i);
      text = i + 1; // the escaped character is plain text
      i += 2;
      continue;
    }
    if (c === "`") {
      const n = runLength(src, i, to, "`");
      const close = findRun(src, i + n, to, "`", n);
      next = close < 0 ? i + n : close + n;
      if (close >= 0) node = { type: "code", start: i + n, end: close };
    } else if (c === "*" || c === "_") {
      const run = runLength(src, i, to, c);
      const n = Math.min(2, run);
      const close = canOpen(src, i, n, to, c) ? findClose(src, i + n, to, c, n) : -1;
      next = close < 0 ? i + run : close + n;
      if (close >= 0) node = { type: n === 2 ? "strong" : "em", children: parseInline(src, i + n, close) };
    } else if (c === "[") {
      const link = parseLink(src, i, to);
      if (link) {
        node = { type: "link", href: link.href, children: parseInline(src, i + 1, link.textEnd) };
        next = link.end;
      }
    } else if ((c === "h" || c === "m") && !WORD.test(src[i - 1] ?? "")) {
      const url = bareUrl(src, i, to);
      if (url) {
        node = { type: "link", href: url.href, children: [{ type: "text", start: i, end: url.end }] };
        next = url.end;
      }
    }
    if (node) {
      flush(i);
      nodes.push(node);
      text = next;
    }
    i = next;
  }
  flush(to);
  return nodes;
}

// ---------------------------------------------------------------- rendering

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
