// Expression controls built from the server's hello: an expressiveness slider, and per emotion a gain slider
// (0 suppress .. 1 as the reply says .. 2 amplify) and a "show" button that poses it. Native range inputs
// and buttons, so they are labelled and keyboard operable as they are.

import { emotionHue } from "./chat.js";

const GAIN = { min: 0, max: 2, step: 0.05, value: 1 };

let uid = 0;

function slider(label, { min, max, step, value }, onInput) {
  const id = `mien-ctl-${++uid}`;
  const row = document.createElement("div");
  row.className = "slider";
  const name = document.createElement("label");
  name.htmlFor = id;
  name.textContent = label;
  const input = Object.assign(document.createElement("input"), { type: "range", id, min, max, step, value });
  const output = document.createElement("output");
  output.htmlFor = id;
  const show = () => {
    output.value = Number(input.value).toFixed(2);
    input.setAttribute("aria-valuetext", `${label} ${output.value}`);
    input.style.setProperty("--pct", `${((input.value - min) / (max - min)) * 100}%`); // the track's fill
  };
  show();
  input.addEventListener("input", () => {
    show();
    onInput(Number(input.value));
  });
  row.append(name, input, output);
  return { row, input };
}

export class ExpressionControls {
  #root;
  #avatar;
  #expressiveness = null;
  #gains = new Map(); // emotion -> range input
  #names = "";

  /** `root` is an empty container; `avatar` the <mien-avatar> to steer. */
  constructor(root, avatar) {
    this.#root = root;
    this.#avatar = avatar;
    avatar.addEventListener("connect", () => this.#build());
    if (avatar.hello) this.#build();
  }

  /** Build once per emotion list; on a reconnect re-send the current values to the new session. */
  #build() {
    const emotions = this.#avatar.emotions;
    if (emotions.join("\n") === this.#names) {
      this.#resend();
      return;
    }
    this.#names = emotions.join("\n");
    this.#gains.clear();

    const overall = slider("Expressiveness", GAIN, (v) => this.#avatar.setExpressiveness(v));
    overall.row.classList.add("overall");
    this.#expressiveness = overall.input;

    const table = document.createElement("div");
    table.className = "emotions";
    table.setAttribute("role", "group");
    table.setAttribute("aria-label", "Emotion gains");
    for (const emotion of emotions) {
      const gain = slider(emotion, GAIN, (v) => this.#avatar.setGain(emotion, v));
      gain.input.dataset.emotion = emotion;
      gain.input.setAttribute("aria-label", `${emotion} gain`);
      const hue = emotionHue(emotions, emotion);
      if (hue !== null) gain.row.style.setProperty("--hue", hue);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "show";
      button.textContent = "Show";
      button.dataset.emotion = emotion;
      button.setAttribute("aria-label", `Show ${emotion}`);
      button.addEventListener("click", () => this.#avatar.setEmotion(emotion, 1));
      gain.row.append(button);
      table.append(gain.row);
      this.#gains.set(emotion, gain.input);
    }
    this.#root.replaceChildren(overall.row, table);
  }

  #resend() {
    const value = Number(this.#expressiveness.value);
    if (value !== GAIN.value) this.#avatar.setExpressiveness(value);
    for (const [emotion, input] of this.#gains) {
      if (Number(input.value) !== GAIN.value) this.#avatar.setGain(emotion, Number(input.value));
    }
  }
}
