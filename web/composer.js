// The message composer: a textarea that grows with its text, Enter to send (Shift+Enter a new line; Enter
// that confirms an input method's composition does neither), the typing signal ("listening") while the user
// composes, and a stop button shown only while a reply streams. Driven only by the <mien-avatar> API, so it
// serves the element's built-in chat and any page that builds its own.

import { PictureAttach } from "./attach.js";

const TYPING_IDLE_MS = 2000; // no keystroke for this long: the user stopped composing
const ASK_ABOUT_PICTURE = "What do you see?"; // a picture sent without words

export class Composer {
  #form;
  #input;
  #stop;
  #avatar;
  #typingTimer = 0;
  #typing = false;
  #attach;

  /** `form` holds a textarea, a submit button and a `.stop` button; `avatar` the <mien-avatar> to send to. */
  constructor(form, avatar) {
    this.#form = form;
    this.#input = form.querySelector("textarea");
    this.#stop = form.querySelector(".stop");
    this.#avatar = avatar;
    this.#attach = new PictureAttach(form, avatar);
    const input = this.#input;
    avatar.addEventListener("connect", (e) => (input.maxLength = e.detail.hello.limits.max_text_chars));
    avatar.addEventListener("reply", () => (this.#stop.hidden = false));
    // Stop stays while the face talks: after the text ends (replyend) the voice may still be sounding.
    avatar.addEventListener("state", (e) => {
      if (e.detail.state !== "thinking" && e.detail.state !== "speaking") this.#hideStop();
    });
    this.#stop.addEventListener("click", () => {
      avatar.stop();
      input.focus();
    });
    input.addEventListener("input", () => {
      this.#fit();
      this.#setTyping(input.value.trim() !== "");
    });
    input.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
      e.preventDefault();
      form.requestSubmit();
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#submit();
    });
  }

  #submit() {
    const text = this.#input.value.trim();
    if (!text && !this.#attach.attached) return;
    clearTimeout(this.#typingTimer);
    this.#typing = false; // the reply that starts now supersedes "listening"
    const image = this.#attach.take();
    if (this.#avatar.send(text || ASK_ABOUT_PICTURE, image ? { image } : undefined)) {
      this.#input.value = "";
      this.#fit();
    }
  }

  #setTyping(active) {
    clearTimeout(this.#typingTimer);
    if (active) this.#typingTimer = setTimeout(() => this.#setTyping(false), TYPING_IDLE_MS);
    if (active !== this.#typing) {
      this.#typing = active;
      this.#avatar.setTyping(active);
    }
  }

  /** Hidden while focused, Stop would drop the focus to <body>: a keyboard user goes on in the textarea. */
  #hideStop() {
    const stop = this.#stop;
    if (stop.hidden) return;
    const focused = stop.matches(":focus");
    stop.hidden = true;
    if (focused) this.#input.focus();
  }

  /** The textarea grows with its text, up to the cap in the stylesheet. */
  #fit() {
    const input = this.#input;
    input.style.height = "auto";
    input.style.height = `${input.scrollHeight + 2}px`;
  }
}
