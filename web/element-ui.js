// The built-in UI of <mien-avatar>, in its shadow root: the face's frame, and (attribute `chat`, on unless
// "off") a chat with a composer, errors, a state pill, the persona's name, the voice and (attribute `mic`)
// the microphone; (attribute `controls`) the expression controls and presets as a panel or drawer;
// (attribute `models`) the Models panel: who writes and who judges, the prompts, the scores;
// (attribute `theme`) its colours; (attribute `voice`) speaking replies, asking for the user gesture
// browsers need before audio. The parts are the same modules any page can use around the element
// (chat.js, composer.js, mic-button.js, controls.js, presets.js, errors.js), driven only by the element's
// public API and events; their styles are adopted from CSS strings (ui-css.js, frame-css.js).
import { ChatPanel } from "./chat.js";
import { Composer } from "./composer.js";
import { ExpressionControls } from "./controls.js";
import { ErrorList } from "./errors.js";
import { FRAME_CSS } from "./frame-css.js";
import { MicButton } from "./mic-button.js";
import { ModelsPanel } from "./models-panel.js";
import { PresetPanel } from "./presets.js";
import { IDLE_CLOSE, MOVED_CLOSE } from "./protocol.js";
import { UI_CSS } from "./ui-css.js";

const WIDE_PX = 600; // narrower than this: the chat goes under the face ("tall")...
const SHORT_PX = 420; // ... or over it, when the element is also lower than this ("short")
const ARM_MS = 4000; // "Clear? Click again" waits this long for the second click

const LAYOUT = `
<div class="frame" part="frame" data-layout="tall" data-theme="auto" data-chat="on" data-controls="off">
  <div class="portrait" part="portrait">
    <p id="state" class="state" part="state" data-state="connecting">connecting…</p>
    <button type="button" id="hear" class="hear" part="hear" hidden>Tap to hear</button>
    <p id="mic-on" class="mic-on" part="mic-on" role="status" hidden>microphone on</p>
  </div>
  <section class="side" part="side" aria-label="Conversation and controls">
    <header class="bar" part="bar">
      <h2 id="persona-name" class="name"></h2>
      <slot name="tools"></slot>
      <div class="tools" role="group" aria-label="Conversation">
        <button type="button" id="voice" aria-pressed="false" hidden title="Speak replies aloud">Voice</button>
        <button type="button" id="headphones" aria-pressed="false" hidden
                title="Wearing headphones: the voice cannot reach the microphone, so talking over it stops it sooner">Headphones</button>
        <button type="button" id="clear" title="Forget the conversation, on the server too">Clear</button>
      </div>
    </header>
    <ol id="chat" class="chat" part="chat" role="log" aria-label="Conversation"></ol>
    <ul id="errors" class="errors" role="alert" aria-label="Errors"></ul>
    <form id="composer" class="composer" part="composer" autocomplete="off">
      <label for="message" class="visually-hidden">Message</label>
      <textarea id="message" name="message" rows="1" placeholder="Say something…" enterkeyhint="send"
                aria-describedby="composer-hint"></textarea>
      <span id="composer-hint" class="visually-hidden">Enter sends; Shift+Enter starts a new line.</span>
      <div class="attached" hidden></div>
      <button type="button" class="attach" part="attach" aria-label="Attach a picture" title="Show a picture" hidden>
        <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M21 19V5a2 2 0 0 0-2-2H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2zM8.5 13.5l2.5 3 3.5-4.5 4.5 6H5l3.5-4.5z"/></svg>
      </button>
      <input type="file" class="visually-hidden" tabindex="-1" aria-hidden="true">
      <button type="button" id="mic" class="mic" part="mic" aria-pressed="false" aria-label="Talk" hidden>
        <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 15a3 3 0 0 0 3-3V6a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-2.1a7 7 0 0 0 6-6.9z"/></svg>
        <span class="meter" aria-hidden="true"></span>
      </button>
      <button type="submit" class="send">Send</button>
      <button type="button" id="stop" class="stop" hidden>Stop</button>
    </form>
    <details id="panel" class="controls" part="controls">
      <summary>Expression</summary>
      <slot name="controls"></slot>
      <div id="controls-body" class="controls-body"><p class="muted">Waiting for the server…</p></div>
      <div id="presets" class="controls-body"></div>
    </details>
    <details id="models" class="controls models" part="models" hidden>
      <summary>Models</summary>
      <div class="models-body controls-body"></div>
    </details>
  </section>
</div>`;

// The pill is not a live region: "thinking… / speaking / ready" on every reply would talk over the chat log.
// Going offline or being refused is announced by the stage's notice (role=status); errors by role=alert.
const STATE_TEXT = {
  connecting: "connecting…",
  idle: "ready",
  listening: "listening…",
  thinking: "thinking…",
  speaking: "speaking",
  offline: "offline, reconnecting…",
};

let sheets = null; // built once, shared by every element on the page

function adoptedSheets() {
  if (!sheets) {
    sheets = [FRAME_CSS, UI_CSS].map((css) => {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      return sheet;
    });
  }
  return sheets;
}

/** `chat`: on unless "off"/"false". `controls` and `models`: off unless set ("open" starts open). `voice`,
 * `theme`, `mic` (the Talk button: "auto" hands-free unless "push" or "off"). */
function modes(el) {
  const off = (v) => v === "off" || v === "false";
  const controls = el.getAttribute("controls");
  const voice = el.getAttribute("voice");
  const theme = el.getAttribute("theme");
  const models = el.getAttribute("models");
  return {
    chat: off(el.getAttribute("chat")) ? "off" : "on",
    controls: controls === null || off(controls) ? "off" : controls === "open" ? "open" : "on",
    voice: voice === "on" || voice === "off" ? voice : "auto",
    theme: theme === "dark" || theme === "light" ? theme : "auto",
    mic: off(el.getAttribute("mic")) ? "off" : el.getAttribute("mic") === "push" ? "push" : "auto",
    models: models === null || off(models) ? "off" : models === "open" ? "open" : "on",
  };
}

export class ElementUI {
  #el;
  #root;
  #frame;
  #resize;
  #canStart;
  #declined = false; // the user turned the voice off: voice="on" does not turn it back on by itself
  #armed = 0;
  #mic;

  /**
   * Builds the frame in `root` around `face` (the face's own template: stage, canvas, notice); `canStart()`
   * tells whether the browser lets audio start without a further gesture.
   */
  constructor(root, el, face, canStart) {
    this.#el = el;
    this.#canStart = canStart;
    this.#root = root;
    root.adoptedStyleSheets = [...root.adoptedStyleSheets, ...adoptedSheets()];
    const layout = document.createElement("template");
    layout.innerHTML = LAYOUT;
    root.append(layout.content);
    const $ = (selector) => root.querySelector(selector);
    this.#frame = $(".frame");
    $(".portrait").prepend(face);

    new ChatPanel($("#chat"), el);
    new Composer($("#composer"), el);
    new ErrorList($("#errors"), el);
    new ExpressionControls($("#controls-body"), el);
    new PresetPanel($("#presets"), el);
    new ModelsPanel($("#models"), el);
    this.#mic = new MicButton($("#mic"), $("#headphones"), $("#mic-on"), el, () => modes(el).mic);

    const on = (type, fn) => el.addEventListener(type, (e) => fn(e.detail));
    on("state", ({ state }) => this.#showState(state));
    on("disconnect", ({ retrying, code }) => {
      const paused = { [IDLE_CLOSE]: "paused (idle)", [MOVED_CLOSE]: "paused (continued elsewhere)" };
      if (!retrying) $("#state").textContent = paused[code] ?? "offline (refused by the server)";
    });
    on("connect", ({ hello }) => {
      $("#persona-name").textContent = hello.persona.name;
      this.#applyVoice();
    });
    on("settings", () => this.#showVoice());
    const voice = $("#voice");
    voice.addEventListener("click", () => {
      this.#declined = el.voice;
      el.setVoice(!el.voice);
    });
    $("#hear").addEventListener("click", () => this.#wantVoice());
    // Any gesture inside the element (a tap, typing a message) is one the browser lets start audio. Not one
    // on the Voice button: its click decides, and would toggle off what its pointerdown had just turned on.
    for (const type of ["pointerdown", "keydown"]) {
      el.addEventListener(type, (e) => e.composedPath().includes(voice) || this.#wantVoice(), true);
    }
    $("#clear").addEventListener("click", () => this.#clear());
    this.#resize = new ResizeObserver(([entry]) => this.#layout(entry.contentRect));
    this.#applyModes(null);
  }

  /** The element joined a page: follow its size. */
  start() {
    this.#resize.observe(this.#el);
  }

  stop() {
    this.#resize.disconnect();
  }

  /** An attribute of the element changed (any: the built-in UI reads chat, controls, voice and theme). */
  attributeChanged(name) {
    this.#applyModes(name);
    if (name === "mic") this.#mic.refresh();
    if (name === "voice") {
      this.#declined = false;
      this.#applyVoice();
    }
  }

  #applyModes(name) {
    const m = modes(this.#el);
    const frame = this.#frame;
    const side = m.chat === "on" || m.controls !== "off";
    if (name === null || name === "controls") this.#root.querySelector("#panel").open = m.controls === "open";
    const models = this.#root.querySelector("#models"); // shown where the server lets this page edit prompts
    models.dataset.wanted = m.models === "off" ? "" : "1";
    models.hidden = m.models === "off" || !this.#el.hello?.prompts;
    if (name === null || name === "models") models.open = m.models === "open";
    Object.assign(frame.dataset, { chat: m.chat, controls: m.controls, theme: m.theme });
    frame.toggleAttribute("data-side", side);
    this.#layout(null);
  }

  /** wide / tall / short from the element's size (a ResizeObserver entry's contentRect, or measured now). */
  #layout(rect) {
    const { width, height } = rect ?? this.#el.getBoundingClientRect();
    if (!width && !height) return; // not laid out (yet)
    const chat = this.#frame.dataset.chat === "on";
    const layout = chat && width >= WIDE_PX ? "wide" : chat && height < SHORT_PX ? "short" : "tall";
    this.#frame.dataset.layout = layout;
    this.#frame.style.setProperty("--frame-h", `${Math.round(height)}px`);
  }

  #showState(state) {
    const pill = this.#root.querySelector("#state");
    pill.dataset.state = state;
    pill.textContent = STATE_TEXT[state] ?? state;
  }

  /** The voice button (when the server can speak) and, for voice="on" still waiting for a gesture, "Tap to hear". */
  #showVoice() {
    const el = this.#el;
    const mode = modes(el).voice;
    const can = Boolean(el.hello?.voice) && mode !== "off";
    const button = this.#root.querySelector("#voice");
    button.hidden = !can;
    button.setAttribute("aria-pressed", String(el.voice));
    this.#root.querySelector("#hear").hidden = !(can && mode === "on" && !el.voice && !this.#declined);
  }

  /**
   * The `voice` attribute: "off" silences, "on" speaks as soon as the browser allows audio (once the page
   * has had a user gesture; until then "Tap to hear" asks for one), absent leaves it to the Voice button.
   */
  #applyVoice() {
    const el = this.#el;
    const mode = modes(el).voice;
    if (mode === "off" && el.voice) el.setVoice(false);
    else if (mode === "on" && el.hello?.voice && !el.voice && !this.#declined && this.#canStart()) this.#wantVoice();
    this.#showVoice();
  }

  /** voice="on" and a user gesture now (or earlier): turn the voice on. */
  #wantVoice() {
    const el = this.#el;
    if (modes(el).voice !== "on" || el.voice || this.#declined || !el.hello?.voice) return;
    el.setVoice(true);
  }

  /** Clearing forgets the conversation on the server too, so it asks once more (no modal dialog). */
  #clear() {
    const button = this.#root.querySelector("#clear");
    const disarm = () => {
      clearTimeout(this.#armed);
      this.#armed = 0;
      button.textContent = "Clear";
      button.classList.remove("armed");
    };
    if (this.#armed) {
      disarm();
      this.#el.clearHistory();
      return;
    }
    button.textContent = "Clear? Click again";
    button.classList.add("armed");
    this.#armed = setTimeout(disarm, ARM_MS);
  }
}
