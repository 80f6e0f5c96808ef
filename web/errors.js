// Errors shown plainly: words for the element's error codes (docs/protocol.md, docs/element.md), with the
// code and the server's message beside them for whoever needs the detail; the latest few, each dismissable.

const PLAIN = {
  bad_json: "The server and this page misunderstood each other.",
  unknown_type: "The server did not understand a request from this page.",
  invalid_message: "The server did not accept a request from this page.",
  out_of_range: "That value is outside the allowed range.",
  unknown_emotion: "The server does not know that emotion.",
  unknown_control: "The server does not know that control.",
  unknown_persona: "That persona does not exist; you are talking with the default one.",
  too_large: "That message is too long.",
  rate_limited: "Too many messages for now; please wait a moment.",
  forbidden_origin: "This site is not allowed to use this Mien server.",
  unknown_key: "The embed key is not known to this Mien server.",
  too_many_sessions: "This Mien server is busy (too many open sessions). Reload later.",
  too_many_connections: "Too many open sessions (on this server, or from your address). Reload later.",
  key_required: "This Mien server only talks to sites with an embed key.",
  voice_unavailable: "This server cannot speak aloud.",
  voice_failed: "The voice service failed; the built-in voice speaks instead for now.",
  audio_unavailable: "This browser cannot play the voice.",
  audio_decode_failed: "A spoken sentence could not be played.",
  provider_error: "The language model did not answer. Please try again in a moment.",
  internal: "Something went wrong on the server.",
  unavailable: "The server cannot take this right now; please try again in a moment.",
  moved: "This conversation went on in another window. Send a message here to bring it back.",
  not_saved: "This conversation is not being saved right now; it will be once the database is back.",
  not_connected: "Not connected, so that was not sent.",
  bad_frame: "A face update arrived damaged and was skipped.",
  bad_server: "The server address is not valid.",
  model_load_failed: "The face could not be loaded.",
  webgl_unavailable: "This browser cannot draw the face (WebGL is unavailable).",
  export_failed: "The conversation could not be exported.",
};

const MAX_ERRORS = 3;

export function describeError(code) {
  return PLAIN[code] ?? "Something went wrong.";
}

/** The latest few `error` events of a <mien-avatar> in `list` (a <ul role="alert">). */
export class ErrorList {
  #list;

  constructor(list, avatar) {
    this.#list = list;
    avatar.addEventListener("error", (e) => this.show(e.detail));
  }

  show({ code, message }) {
    const item = document.createElement("li");
    const plain = document.createElement("span");
    plain.className = "plain";
    plain.textContent = describeError(code);
    const detail = document.createElement("span");
    detail.className = "detail";
    const label = document.createElement("code");
    label.textContent = code;
    detail.append(label, ` ${message}`);
    const close = Object.assign(document.createElement("button"), { type: "button", textContent: "×" });
    close.setAttribute("aria-label", "Dismiss error");
    close.addEventListener("click", () => item.remove());
    item.append(plain, detail, close);
    this.#list.append(item);
    while (this.#list.children.length > MAX_ERRORS) this.#list.firstElementChild.remove();
  }
}
