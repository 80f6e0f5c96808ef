// The microphone's controls in the built-in UI: the Talk button (hands-free: click to open, click to close;
// push-to-talk: hold it, or hold Space/Enter on it), its level meter, the Headphones switch, and the
// "microphone on" indicator shown whenever audio is being sent. Driven only by the <mien-avatar> API and
// its events, like the composer. A page that cannot record keeps the button, and a click says why.

const PUSH_KEYS = new Set([" ", "Enter"]);

export class MicButton {
  #button;
  #headphones;
  #indicator;
  #el;
  #mode; // () -> "off" | "push" | "auto": the element's `mic` attribute
  #meter = 0;
  #held = false;

  /** `button` holds a `.meter`; `headphones` is a switch button; `indicator` is shown while the mic is open. */
  constructor(button, headphones, indicator, el, mode) {
    this.#button = button;
    this.#headphones = headphones;
    this.#indicator = indicator;
    this.#el = el;
    this.#mode = mode;
    el.addEventListener("connect", () => this.refresh());
    el.addEventListener("micstate", (e) => {
      if (e.detail.mode === "off") this.#held = false;
      this.#show();
    });
    button.addEventListener("click", () => this.#click());
    button.addEventListener("pointerdown", (e) => this.#push(e, true));
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
      button.addEventListener(type, (e) => this.#push(e, false));
    }
    button.addEventListener("keydown", (e) => PUSH_KEYS.has(e.key) && !e.repeat && this.#push(e, true));
    button.addEventListener("keyup", (e) => PUSH_KEYS.has(e.key) && this.#push(e, false));
    // A release that never arrives (the permission prompt took the focus, the tab was left) still ends it.
    const release = (e) => this.#held && this.#push(e, false);
    for (const type of ["blur", "lostpointercapture"]) button.addEventListener(type, release);
    window.addEventListener("blur", release);
    document.addEventListener("visibilitychange", (e) => document.hidden && release(e));
    headphones.addEventListener("click", () => {
      const on = headphones.getAttribute("aria-pressed") !== "true";
      headphones.setAttribute("aria-pressed", String(on));
      if (el.listening !== "off") el.startListening(el.listening, { headphones: on }); // the rule changes now
    });
  }

  /** The `mic` attribute or the server's hello changed: show the controls the element may offer. */
  refresh() {
    const mode = this.#mode();
    const offered = Boolean(this.#el.hello?.speech_input?.available) && mode !== "off";
    this.#button.hidden = this.#headphones.hidden = !offered;
    this.#button.dataset.mode = mode;
    const problem = offered ? this.#el.micProblem : null;
    this.#button.dataset.problem = problem ? "true" : "false";
    this.#button.title = problem ?? (mode === "push" ? "Hold to talk" : "Talk (click again to stop)");
    // Only when this server can't hear: mic="off" hides the button, not the API's microphone.
    if (!this.#el.hello?.speech_input?.available && this.#el.listening !== "off") this.#el.stopListening();
    this.#show();
  }

  #show() {
    const open = this.#el.listening !== "off";
    this.#button.setAttribute("aria-pressed", String(open));
    this.#indicator.hidden = !open;
    if (open && !this.#meter) this.#meter = requestAnimationFrame(() => this.#level());
  }

  #level() {
    const open = this.#el.listening !== "off";
    this.#button.style.setProperty("--level", open ? this.#el.micLevel.toFixed(3) : "0");
    this.#meter = open ? requestAnimationFrame(() => this.#level()) : 0;
  }

  #start(mode) {
    const headphones = this.#headphones.getAttribute("aria-pressed") === "true";
    return this.#el.startListening(mode, { headphones });
  }

  /** Hands-free: a click opens or closes. With a problem (no permission, not https): say so. */
  #click() {
    const problem = this.#el.micProblem;
    if (problem) {
      this.#el.dispatchEvent(
        new CustomEvent("error", {
          detail: { code: "mic_unavailable", message: problem, replyId: null, source: "client" },
          bubbles: true,
          composed: true,
        }),
      );
      return;
    }
    if (this.#mode() !== "auto") return;
    if (this.#el.listening === "off") this.#start("auto");
    else this.#el.stopListening();
  }

  /** Push-to-talk: open while held, the turn ends on release. */
  #push(e, down) {
    if (this.#mode() !== "push" || this.#el.micProblem) return;
    if (down === this.#held) return;
    if (e.type === "pointerdown") this.#button.setPointerCapture?.(e.pointerId);
    if (e.cancelable) e.preventDefault();
    this.#held = down;
    if (down) this.#start("push");
    else this.#el.stopListening();
  }
}
