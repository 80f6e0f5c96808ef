// The session half of <mien-avatar>: one self-reconnecting MienConnection at a time, the server's hello,
// the state, the reply streaming now, pending exportHistory() promises, and the user's face settings that
// every new session gets again. It turns server messages into the element's DOM events (`emit`) and leaves
// drawing, the head and the voice to the element through the hooks it is given.

import { FaceSettings } from "./face-settings.js";
import { messageEvent } from "./message-events.js";
import { IDLE_CLOSE, MOVED_CLOSE, MienConnection, socketUrl } from "./protocol.js";
import { SessionMemory } from "./session-store.js";

/** Element-level states besides the server's idle / listening / thinking / speaking. */
export const CONNECTING = "connecting";
export const OFFLINE = "offline";
const REFUSED = 1008; // the server's close code for a refused session (embed key, origin, session limit)
const sessions = new SessionMemory(); // shared by every element on the page

export class AvatarSession {
  #hooks;
  #connection = null;
  #hello = null;
  #state = CONNECTING;
  #reply = null; // {replyId, text} while a reply streams
  #exports = []; // pending exportHistory() promises: {resolve, reject}
  #connectReason = "open"; // why the next hello comes: open | reconnect | persona | server | key
  #socketUrl = "";
  #persona = null; // the persona asked for (the attribute) by the current connection
  #prompts = null; // hello.prompts, then each `prompts` answer (null where the page may not see them)
  settings = new FaceSettings(); // the user's controls, gains and mood, replayed on every new session

  /**
   * `hooks`: emit(type, detail), attr(name) (the element's attribute), and optional onHello(hello) (before
   * `connect` is announced), onFrame(seq, tMs, values), onBinary(buffer), onMessage(m) (before it is
   * announced), onClose(refused).
   */
  constructor(hooks) {
    this.#hooks = hooks;
  }

  get hello() {
    return this.#hello;
  }

  get state() {
    return this.#state;
  }

  get prompts() {
    return this.#prompts ? structuredClone(this.#prompts) : null;
  }

  get reply() {
    return this.#reply ? { ...this.#reply } : null;
  }

  get connected() {
    return this.#connection !== null;
  }

  /** Send one client message (queued until the session opens unless `queue` is false); false if refused. */
  send(message, options) {
    return this.#connection?.send(message, options) ?? false;
  }

  /** Send a binary message (microphone audio) if the session is open; false otherwise. */
  sendBinary(buffer) {
    return this.#connection?.sendBinary(buffer) ?? false;
  }

  /** The user is back (the page is shown again): reconnect a session the server closed for idling. */
  wake() {
    this.#connection?.wake();
  }

  /** After a sent setting: remember it (if the server will accept it) and announce the change. */
  keep(sent, remember) {
    if (sent && remember(this.#hello)) this.#hooks.emit("settings", {});
    return sent;
  }

  /** A user line (`user_message` or `speak`), announced as `usermessage` once sent. */
  sendUser(type, text, extra = {}) {
    const sent = this.send({ type, text });
    if (sent) this.#hooks.emit("usermessage", { text, scripted: type === "speak", greeting: false, ...extra });
    return sent;
  }

  exportHistory() {
    return new Promise((resolve, reject) => {
      const pending = { resolve, reject };
      this.#exports.push(pending);
      if (!this.#connection || !this.send({ type: "export_history" })) {
        this.#exports.splice(this.#exports.indexOf(pending), 1);
        reject(new Error("not connected"));
      }
    });
  }

  /** (Re)open the session; `reason` is passed on in the next `connect` event. */
  connect(reason = "open") {
    this.#drop("the session was replaced");
    const attr = this.#hooks.attr;
    let url;
    try {
      url = socketUrl(attr("server"));
    } catch {
      this.setState(OFFLINE);
      this.#hooks.emit("error", {
        code: "bad_server",
        message: `not a server URL: ${attr("server")}`,
        replyId: null,
        source: "client",
      });
      return;
    }
    const persona = (this.#persona = attr("persona") || null);
    this.#socketUrl = url;
    this.#connectReason = reason;
    // Asked on every attempt, so a reconnect resumes the conversation the last hello named.
    const key = attr("key") || null;
    const connection = new MienConnection(() => sessions.target(url, { key, persona, mode: attr("resume") }));
    connection.addEventListener("hello", (e) => this.#onHello(e.detail.hello));
    connection.addEventListener("message", (e) => this.#onMessage(e.detail.message));
    connection.addEventListener("frame", (e) => this.#hooks.onFrame?.(e.detail.seq, e.detail.tMs, e.detail.values));
    connection.addEventListener("binary", (e) => this.#hooks.onBinary?.(e.detail.buffer));
    connection.addEventListener("close", (e) => this.#onClose(e.detail));
    connection.addEventListener("protocolerror", (e) =>
      this.#hooks.emit("error", { ...e.detail, replyId: null, source: "client" }),
    );
    this.#connection = connection;
    this.setState(CONNECTING);
    connection.connect();
  }

  /** Close for good (the element left the page). */
  close() {
    this.#drop("the element left the page");
    this.setState(OFFLINE);
  }

  setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.#hooks.emit("state", { state });
  }

  #drop(why) {
    this.#abandonReply();
    this.#failExports(why);
    this.#connection?.close();
    this.#connection = null;
  }

  #onHello(hello) {
    this.#hello = hello;
    this.#prompts = hello.prompts ?? null;
    sessions.rememberHello(this.#socketUrl, this.#persona, hello, this.#hooks.attr("resume"));
    this.#hooks.onHello?.(hello);
    for (const message of this.settings.replay(hello)) this.send(message); // a new session: the user's face
    const reason = this.#connectReason;
    this.#connectReason = "reconnect";
    this.#hooks.emit("connect", { hello, reason, resumed: hello.resumed });
  }

  #failExports(why) {
    for (const { reject } of this.#exports.splice(0)) reject(new Error(why));
  }

  /** The session is gone: a reply still streaming will never end, so end it here as interrupted. */
  #abandonReply() {
    if (!this.#reply) return;
    const { replyId, text } = this.#reply;
    this.#reply = null;
    this.#hooks.emit("replyend", { replyId, status: "interrupted", text });
  }

  #onClose({ code, reason }) {
    this.#abandonReply();
    this.#failExports("disconnected before the history arrived");
    this.setState(OFFLINE);
    const refused = code === REFUSED;
    const idle = code === IDLE_CLOSE || code === MOVED_CLOSE; // both wait for the user, not a timer
    this.#hooks.onClose?.(refused, idle);
    this.#hooks.emit("disconnect", { code, reason, retrying: !refused && !idle });
  }

  #onMessage(m) {
    if (m.type === "state") {
      this.setState(m.state);
      return;
    }
    this.#hooks.onMessage?.(m);
    const event = messageEvent(m);
    if (!event) {
      console.debug("mien-avatar: ignoring message", m.type);
      return;
    }
    const [type, detail] = event;
    const current = this.#reply?.replyId === detail.replyId;
    if (type === "prompts") this.#prompts = { ...detail };
    if (type === "reply") this.#reply = { replyId: detail.replyId, text: "" };
    else if (type === "text" && current) this.#reply.text += detail.delta;
    else if (type === "replyend" && current) this.#reply = null;
    else if (type === "history" && detail.reason === "export") {
      this.#exports.shift()?.resolve(detail.turns.map((t) => ({ ...t })));
    }
    this.#hooks.emit(type, detail);
  }
}
