// Mien's own page: the <mien-avatar> element with a chat panel, a composer and expression controls around
// it. Everything here goes through the element's public API and events, as an embedding page would.

import "./mien-avatar.js";
import { ChatPanel } from "./chat.js";
import { ExpressionControls } from "./controls.js";

const $ = (selector) => document.querySelector(selector);
const avatar = $("mien-avatar");
const form = $("#composer");
const input = $("#message");
const stopButton = $("#stop");
const statePill = $("#state");
const errors = $("#errors");

new ChatPanel($("#chat"), avatar);
new ExpressionControls($("#controls-body"), avatar);

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
avatar.addEventListener("connect", (e) => {
  $("#model").textContent = e.detail.hello.model;
});

// The stop button is there only while a reply streams.
avatar.addEventListener("reply", () => (stopButton.hidden = false));
avatar.addEventListener("replyend", () => (stopButton.hidden = true));
stopButton.addEventListener("click", () => {
  avatar.stop();
  input.focus();
});

// ---------------------------------------------------------------- composer

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

input.addEventListener("input", () => setTyping(input.value.trim() !== ""));
form.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  clearTimeout(typingTimer);
  typing = false; // the reply that starts now supersedes "listening"
  avatar.send(text);
  input.value = "";
});
avatar.addEventListener("connect", (e) => {
  input.maxLength = e.detail.hello.limits.max_text_chars;
});

// ---------------------------------------------------------------- errors

const MAX_ERRORS = 3;

avatar.addEventListener("error", (e) => {
  const { code, message } = e.detail;
  const item = document.createElement("li");
  const label = document.createElement("strong");
  label.textContent = code;
  const close = Object.assign(document.createElement("button"), { type: "button", textContent: "×" });
  close.setAttribute("aria-label", "Dismiss error");
  close.addEventListener("click", () => item.remove());
  item.append(label, ` ${message} `, close);
  errors.append(item);
  while (errors.children.length > MAX_ERRORS) errors.firstElementChild.remove();
});
