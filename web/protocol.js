// Mien's wire protocol on the client: one websocket, JSON messages both ways, binary blendshape frames
// from the server. Every name (blendshapes, head channels, emotions) comes from the server's `hello`;
// nothing here knows what a smile is.

/** `server` (an http(s) or ws(s) URL, or "" for this page's origin) -> the session websocket URL. */
export function socketUrl(server, base = globalThis.location?.href) {
  const url = new URL(server || "/", base);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  const path = url.pathname.replace(/\/+$/, "");
  url.pathname = path.endsWith("/ws") ? path : `${path}/ws`;
  url.search = url.hash = "";
  return url.href;
}

/** `url` with the given query parameters set (empty/null values are left out). */
export function withQuery(url, params) {
  const out = new URL(url);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") out.searchParams.set(key, value);
  }
  return out.href;
}

/** `server` -> the http(s) base that serves `/models/...` (same host as the websocket). */
export function httpBase(server, base = globalThis.location?.href) {
  const url = new URL(server || "/", base);
  if (url.protocol === "ws:") url.protocol = "http:";
  else if (url.protocol === "wss:") url.protocol = "https:";
  url.pathname = url.pathname.replace(/\/ws\/?$/, "/").replace(/\/?$/, "/");
  url.search = url.hash = "";
  return url.href;
}

/**
 * A client's binary message (docs/protocol.md: the microphone's audio, a picture): u8 `kind`, u8 flags 0,
 * u32 `id` (little-endian), then `body` (an ArrayBuffer or a typed array: its bytes as they are).
 */
export function clientBinary(kind, id, body) {
  const bytes = ArrayBuffer.isView(body)
    ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
    : new Uint8Array(body);
  const out = new Uint8Array(6 + bytes.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, kind);
  view.setUint32(2, id >>> 0, true);
  out.set(bytes, 6);
  return out.buffer;
}

/**
 * Decode one binary frame onto `state` (Int32Array of quantized channel values, updated in place only when
 * the whole frame is valid). Channels absent from the frame keep their previous value: the server encodes
 * each frame against the last one it sent us.
 * Returns {seq, tMs}; throws on a malformed frame (state untouched).
 */
export function decodeFrame(buffer, state, { kind, header_bytes: headerBytes }, nBlendshapes) {
  const view = new DataView(buffer);
  if (view.byteLength < headerBytes) throw new Error(`short frame (${view.byteLength} bytes)`);
  if (view.getUint8(0) !== kind) throw new Error(`not a frame (kind ${view.getUint8(0)})`);
  const seq = view.getUint32(2, true);
  const tMs = view.getUint32(6, true);
  const maskAt = 10;
  const present = [];
  for (let i = 0; i < state.length; i++) {
    if (view.getUint8(maskAt + (i >> 3)) & (1 << (i & 7))) present.push(i);
  }
  const nBlend = present.filter((i) => i < nBlendshapes).length;
  const expected = headerBytes + nBlend + 2 * (present.length - nBlend);
  if (view.byteLength !== expected) {
    throw new Error(`frame length ${view.byteLength} does not match its mask (${expected})`);
  }
  let at = headerBytes;
  for (const i of present) {
    if (i < nBlendshapes) {
      state[i] = view.getUint8(at);
      at += 1;
    } else {
      state[i] = view.getInt16(at, true);
      at += 2;
    }
  }
  return { seq, tMs };
}

/** Non-finite numbers cannot travel as JSON (they become null), so they are caught here. */
function nonFinite(message) {
  for (const [key, value] of Object.entries(message)) {
    if (typeof value === "number" && !Number.isFinite(value)) return key;
  }
  return null;
}

const RETRY_MIN_MS = 500;
const POLICY_VIOLATION = 1008; // a refused session (embed key, origin, limits): no reconnect
export const IDLE_CLOSE = 4000; // closed for idling: reconnect when the user is back (a message, the page shown)
// Resumed in another window, device or process: reconnecting on a timer would take it back and forth
// forever, so only the user's next move here takes it back.
export const MOVED_CLOSE = 4001;
const RETRY_MAX_MS = 8000;
const MAX_QUEUED = 64;

/**
 * A self-reconnecting session. Events (plain Event subclasses with a `detail`):
 *   hello {hello}            a (new) session started; frame state was reset to zeros
 *   message {message}        any JSON message from the server (after hello)
 *   frame {seq, tMs, values} a binary frame was applied; `values` is the Float32Array of all channels
 *   binary {buffer}          a binary message of another kind than frames (its first byte), untouched
 *   close {code, reason}     the socket closed; a reconnect is scheduled unless `close()` was called or the
 *                            server refused the session (code 1008)
 *   protocolerror {code, message}  something the client itself detected (bad frame, non-finite number)
 */
export class MienConnection extends EventTarget {
  #url; // a string, or a function returning one (asked again on every reconnect)
  #ws = null;
  #hello = null;
  #quantized = null; // Int32Array: the wire values, the state frames are deltas against
  #values = null; // Float32Array: the same channels in real units
  #queue = []; // messages sent before the session was open
  #retryMs = RETRY_MIN_MS;
  #retryTimer = 0;
  #closed = false;
  #dormant = false; // closed for idling: the next queued message (or wake) reconnects

  /** `url`: the websocket URL, or a function giving, per attempt, the URL or `{url, resume}` where `resume`
   * is a session id to resume (sent as the first message; the URL then carries `?resume=1`). */
  constructor(url) {
    super();
    this.#url = url;
  }

  get hello() {
    return this.#hello;
  }

  get open() {
    return this.#ws?.readyState === WebSocket.OPEN && this.#hello !== null;
  }

  connect() {
    this.#closed = false;
    this.#dormant = false;
    clearTimeout(this.#retryTimer);
    const target = typeof this.#url === "function" ? this.#url() : this.#url;
    const { url, resume = null } = typeof target === "string" ? { url: target } : target;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    if (resume) {
      // First, before anything else: the server waits for it before its hello.
      ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "resume", session_id: resume })), { once: true });
    }
    ws.addEventListener("message", (e) => this.#onMessage(e.data));
    ws.addEventListener("close", (e) => this.#onClose(ws, e));
    this.#ws = ws;
  }

  /** Reconnect a session the server closed for idling (the user is back); otherwise nothing. */
  wake() {
    if (this.#dormant && !this.#closed) this.connect();
  }

  close() {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#ws?.close(1000, "client closed");
    this.#ws = null;
  }

  /**
   * Send one client message (an object with `type`). Out-of-range values are the server's to judge, so
   * they go as they are; only NaN/±Infinity, which JSON cannot carry, are refused here with out_of_range.
   * Messages sent before the session is open wait for it, unless `queue` is false (for ephemeral ones
   * like typing). Returns false when the message was refused or dropped.
   */
  send(message, { queue = true } = {}) {
    const bad = nonFinite(message);
    if (bad !== null) {
      this.#emit("protocolerror", {
        code: "out_of_range",
        message: `${message.type}: ${bad} must be a finite number (got ${message[bad]})`,
      });
      return false;
    }
    const text = JSON.stringify(message);
    if (this.open) this.#ws.send(text);
    else if (!queue) return false;
    else if (this.#queue.length < MAX_QUEUED) {
      this.#queue.push(text);
      this.wake();
    }
    else {
      this.#emit("protocolerror", { code: "not_connected", message: "not connected; message dropped" });
      return false;
    }
    return true;
  }

  /** Send a binary message (the microphone's audio) now; false when the session is not open. Never queued:
   * audio from before a reconnect is stale. */
  sendBinary(buffer) {
    if (!this.open) return false;
    this.#ws.send(buffer);
    return true;
  }

  #emit(type, detail) {
    const event = new Event(type);
    event.detail = detail;
    this.dispatchEvent(event);
  }

  #onMessage(data) {
    if (data instanceof ArrayBuffer) {
      this.#onFrame(data);
      return;
    }
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      this.#emit("protocolerror", { code: "bad_json", message: "the server sent invalid JSON" });
      return;
    }
    if (message.type === "hello") this.#onHello(message);
    else this.#emit("message", { message });
  }

  #onHello(hello) {
    const n = hello.blendshapes.length + hello.channels.length;
    this.#hello = hello;
    this.#quantized = new Int32Array(n); // every session starts from all-zero channels
    this.#values = new Float32Array(n);
    this.#retryMs = RETRY_MIN_MS;
    this.#emit("hello", { hello });
    for (const text of this.#queue.splice(0)) this.#ws.send(text);
  }

  #onFrame(buffer) {
    const hello = this.#hello;
    if (hello === null) return;
    const nBlend = hello.blendshapes.length;
    const format = hello.frame_format;
    if (buffer.byteLength > 0 && new DataView(buffer).getUint8(0) !== format.kind) {
      this.#emit("binary", { buffer }); // another kind of binary message (e.g. audio): not a frame
      return;
    }
    let header;
    try {
      header = decodeFrame(buffer, this.#quantized, format, nBlend);
    } catch (err) {
      this.#emit("protocolerror", { code: "bad_frame", message: err.message });
      return;
    }
    const q = this.#quantized;
    const values = this.#values;
    for (let i = 0; i < q.length; i++) {
      values[i] = i < nBlend ? q[i] / format.blendshape_scale : q[i] / format.head_scale;
    }
    this.#emit("frame", { ...header, values });
  }

  #onClose(ws, event) {
    if (ws !== this.#ws) return; // an old socket replaced by connect()
    this.#hello = null;
    this.#emit("close", { code: event.code, reason: event.reason });
    if (this.#closed || event.code === POLICY_VIOLATION) return; // refused: asking again would not help
    if (event.code === IDLE_CLOSE || event.code === MOVED_CLOSE) {
      this.#dormant = true; // no one is using it here: come back on the user's next move, not on a timer
      this.#retryMs = RETRY_MIN_MS;
      return;
    }
    this.#retryTimer = setTimeout(() => this.connect(), this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }
}
