// Where <mien-avatar> remembers its conversation: the server's session id per (server, persona), so a reload
// or a reconnect resumes it (`?resume=1`, then a first `resume` message: the id stays out of URLs and logs). Storage can be refused (private modes, sandboxed iframes, quota);
// then the id lives only as long as the page, which still lets reconnects resume.

import { withQuery } from "./protocol.js";

const PREFIX = "mien-session:";

/** The `resume` attribute: `local` (default, survives closing the tab), `session` (this tab), `off`. */
function storageFor(mode) {
  try {
    if (mode === "off") return null;
    return mode === "session" ? globalThis.sessionStorage : globalThis.localStorage;
  } catch {
    return null; // a SecurityError just for touching the property
  }
}

export class SessionMemory {
  #inPage = new Map(); // key -> id, always (covers refused storage and resume="off")

  /** The key of a conversation: the server's socket URL and the persona asked for ("" = the default). */
  static key(socketUrl, persona) {
    return `${PREFIX}${socketUrl}|${persona ?? ""}`;
  }

  /** What to open: `{url, resume}`, the URL with `?key=` (embed key), `?persona=` and, for a kept
   * conversation, `?resume=1`; `resume` is then the session id to send first (else null). */
  target(socketUrl, { key = null, persona = null, mode = null } = {}) {
    const resume = this.recall(SessionMemory.key(socketUrl, persona), mode);
    return { url: withQuery(socketUrl, { key, persona, resume: resume ? "1" : null }), resume };
  }

  /** Keep a hello's session under the persona asked for and the one the server chose (they differ for the
   * default persona, asked for by no name, and for an unknown one). */
  rememberHello(socketUrl, asked, hello, mode) {
    for (const persona of new Set([asked ?? "", hello.persona.id])) {
      this.remember(SessionMemory.key(socketUrl, persona), hello.session_id, mode);
    }
  }

  recall(key, mode) {
    try {
      const stored = storageFor(mode)?.getItem(key);
      if (stored) return stored;
    } catch {
      // refused: fall back to what this page saw
    }
    return this.#inPage.get(key) ?? null;
  }

  remember(key, id, mode) {
    this.#inPage.set(key, id);
    try {
      storageFor(mode)?.setItem(key, id);
    } catch {
      // refused or full: the in-page copy still serves reconnects
    }
  }
}
