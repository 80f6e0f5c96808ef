// The parsing half of markdown.js (which lists the subset): a reply's blocks and inline nodes as source
// ranges, never copies of the text, so the renderer can map each character it writes back to the raw text.
// Link targets pass safeHref: anything but an absolute http:, https: or mailto: URL stays literal text.

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
