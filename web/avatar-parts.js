// The parts of <mien-avatar> and how they talk to each other: the session's frames go to the view, its audio
// and speech messages (barge-in too) to the voice, the microphone's audio to the session, its hello to the
// head, the voice and the microphone, a dropped session to the stage's notice line, and the page's
// visibility to the server. The element (avatar-element.js) holds them for its attributes and API.

import { AvatarHead } from "./avatar-head.js";
import { AvatarView } from "./avatar-view.js";
import { AvatarListening } from "./listening.js";
import { AvatarPictures } from "./pictures.js";
import { httpBase } from "./protocol.js";
import { AvatarSession } from "./session.js";
import { VoiceSync } from "./voice-sync.js";

export class AvatarParts {
  view;
  head;
  voice;
  session;
  listening;
  pictures;

  /** A `visibilitychange` listener: tells the server whether the page is hidden. */
  onVisibility = () => {
    this.#sendVisibility();
    if (document.visibilityState === "visible") this.session.wake(); // back after an idle close
  };

  /**
   * `el`: the element; `face`: its copy of the view's TEMPLATE (stage, canvas, notice); `emit(type, detail)`:
   * its events; `server()`: the server it talks to.
   */
  constructor(el, face, emit, server) {
    this.view = new AvatarView(face.querySelector(".stage"), face.querySelector("canvas"));
    this.head = new AvatarHead(el, this.view, face.querySelector(".notice"), server, emit);
    this.voice = new VoiceSync(this.view, emit);
    this.session = new AvatarSession({
      emit,
      attr: (name) => (name === "server" ? server() : el.getAttribute(name)),
      onHello: (hello) => this.#onHello(hello),
      onFrame: (seq, tMs, values) => this.view.push(seq, tMs, values),
      onBinary: (buffer) => this.voice.onBinary(buffer),
      onMessage: (m) => {
        this.voice.onMessage(m);
        this.listening.onMessage(m);
      },
      onClose: (refused, idle) => {
        if (refused || idle) this.listening.close(); // no session to hear it until the user is back
        if (refused) this.head.setNotice("The server refused this page.");
        else if (idle) this.head.setNotice("Paused while idle: say something to continue.");
        else if (this.view.loaded) this.head.setNotice("Reconnecting…");
      },
    });
    // The worklet comes from the server the element talks to (the widget may be on another site: CORS).
    const worklet = () => new URL("web/mic-worklet.js", httpBase(server() ?? "")).href;
    this.listening = new AvatarListening(this.session, emit, worklet);
    this.pictures = new AvatarPictures(this.session, emit);
  }

  #sendVisibility() {
    this.session.send({ type: "visibility", hidden: document.visibilityState === "hidden" }, { queue: false });
  }

  /** A new session said hello (before `connect` is announced): the face, the head, the voice follow it. */
  #onHello(hello) {
    this.head.onHello(hello);
    if (document.visibilityState === "hidden") this.#sendVisibility();
    this.voice.reset();
    if (this.voice.on && hello.voice) this.session.send({ type: "set_voice", enabled: true });
    this.listening.onHello(hello);
    queueMicrotask(() => this.head.checkReady()); // after `connect`, as before the split
  }
}
