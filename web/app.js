// Mien's own page: the <mien-avatar> element with a chat panel, a composer, a persona picker, expression
// controls and presets around it. Everything here goes through the element's public API and events, as an
// embedding page would.

import { ChatPanel } from "./chat.js";
import { ExpressionControls } from "./controls.js";
import { describeError } from "./errors.js";
import { PresetPanel } from "./presets.js";

const $ = (selector) => document.querySelector(selector);
const avatar = $("mien-avatar");
const form = $("#composer");
const input = $("#message");
const stopButton = $("#stop");
const statePill = $("#state");
const errors = $("#errors");
const personaPicker = $("#persona");
const PERSONA_KEY = "mien-page:persona";

// The persona: ?persona=ID in the page's URL, else the one picked last time. Set before the element is
// defined, so the first session already opens with it.
const store = (() => {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
})();
const wanted = new URLSearchParams(location.search).get("persona") ?? store?.getItem(PERSONA_KEY);
if (wanted) avatar.setAttribute("persona", wanted);
await import("./mien-avatar.js");

new ChatPanel($("#chat"), avatar);
new ExpressionControls($("#controls-body"), avatar);
new PresetPanel($("#presets"), avatar);
if (matchMedia("(max-width: 820px)").matches) $("#panel").open = false; // phones: the chat first

// ---------------------------------------------------------------- state

const STATE_TEXT = {
  connecting: "connecting…",
  idle: "ready",
  listening: "listening…",
  thinking: "thinking…",
  speaking: "speaking",
  offline: "offline, reconnecting…",
};

function showState(state) {
  statePill.dataset.state = state;
  statePill.textContent = STATE_TEXT[state] ?? state;
}
showState(avatar.state);
avatar.addEventListener("state", (e) => showState(e.detail.state));
avatar.addEventListener("disconnect", (e) => {
  if (!e.detail.retrying) statePill.textContent = "offline (refused by the server)";
});

// ---------------------------------------------------------------- persona

avatar.addEventListener("connect", (e) => {
  const { hello, reason, resumed } = e.detail;
  $("#model").textContent = hello.model;
  $("#persona-name").textContent = hello.persona.name;
  document.title = hello.persona.name === "Mien" ? "Mien" : `${hello.persona.name} · Mien`;
  personaPicker.replaceChildren(...hello.personas.map((p) => new Option(p.name, p.id)));
  personaPicker.value = hello.persona.id;
  personaPicker.disabled = hello.personas.length < 2;
  input.maxLength = hello.limits.max_text_chars;
  if (reason === "persona" && !resumed) avatar.greet(); // a new acquaintance says hello
});

personaPicker.addEventListener("change", () => {
  const id = personaPicker.value;
  try {
    store?.setItem(PERSONA_KEY, id);
  } catch {
    // not remembered across reloads; the switch still happens
  }
  avatar.setAttribute("persona", id);
});

// ---------------------------------------------------------------- voice

// Shown only when the server can speak. The click is the user gesture that lets the page play audio.
const voiceButton = $("#voice");
function showVoice() {
  voiceButton.setAttribute("aria-pressed", String(avatar.voice));
}
avatar.addEventListener("connect", (e) => {
  voiceButton.hidden = !e.detail.hello.voice;
  showVoice();
});
voiceButton.addEventListener("click", () => {
  avatar.setVoice(!avatar.voice);
  showVoice();
});

// ---------------------------------------------------------------- composer

// The stop button is there only while a reply streams.
avatar.addEventListener("reply", () => (stopButton.hidden = false));
avatar.addEventListener("replyend", () => (stopButton.hidden = true));
stopButton.addEventListener("click", () => {
  avatar.stop();
  input.focus();
});

let typingTimer = 0;
let typing = false;

function setTyping(active) {
  clearTimeout(typingTimer);
  if (active) typingTimer = setTimeout(() => setTyping(false), 2000);
  if (active !== typing) {
    typing = active;
    avatar.setTyping(active);
  }
}

/** The textarea grows with its text, up to the cap in style.css. */
function fit() {
  input.style.height = "auto";
  input.style.height = `${input.scrollHeight + 2}px`;
}

input.addEventListener("input", () => {
  fit();
  setTyping(input.value.trim() !== "");
});
// Enter sends, Shift+Enter is a new line; Enter that confirms an input method's composition does neither.
input.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
  e.preventDefault();
  form.requestSubmit();
});
form.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  clearTimeout(typingTimer);
  typing = false; // the reply that starts now supersedes "listening"
  if (avatar.send(text)) {
    input.value = "";
    fit();
  }
});

// ---------------------------------------------------------------- export / clear

$("#export").addEventListener("click", async () => {
  try {
    const turns = await avatar.exportHistory();
    const persona = avatar.persona;
    const exported = new Date().toISOString();
    const data = { persona: persona?.id, session_id: avatar.sessionId, exported, turns };
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
    link.download = `${persona?.id ?? "mien"}-conversation-${data.exported.slice(0, 10)}.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (err) {
    showError({ code: "export_failed", message: err.message });
  }
});

// Clearing forgets the conversation on the server too, so it asks once more (no modal dialog).
const clearButton = $("#clear");
let armed = 0;
clearButton.addEventListener("click", () => {
  if (!armed) {
    clearButton.textContent = "Clear? Click again";
    clearButton.classList.add("armed");
    armed = setTimeout(disarm, 4000);
    return;
  }
  disarm();
  avatar.clearHistory();
});
function disarm() {
  clearTimeout(armed);
  armed = 0;
  clearButton.textContent = "Clear";
  clearButton.classList.remove("armed");
}

// ---------------------------------------------------------------- errors

const MAX_ERRORS = 3;

function showError({ code, message }) {
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
  errors.append(item);
  while (errors.children.length > MAX_ERRORS) errors.firstElementChild.remove();
}
avatar.addEventListener("error", (e) => showError(e.detail));
