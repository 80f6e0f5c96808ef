// Expression controls built entirely from the server's hello: every entry of hello.controls as a labelled
// slider (a switch when it is a step-1 control over 0..1), with its description as help text; a mood
// (emotion + intensity); and per emotion a gain slider (hello.gain's range) and a "show" button. Native
// inputs and buttons, so they are labelled and keyboard operable as they are. Values live in the element
// (it replays them on every new session); the panel only mirrors them.

import { padTable, paint } from "./colors.js";
import { isSwitch } from "./face-settings.js";

let uid = 0;
const nextId = () => `mien-ctl-${++uid}`;

function format(value, step) {
  return Number.isInteger(step) ? String(Math.round(value)) : Number(value).toFixed(2);
}

/** Help text under a control, read by screen readers as its description and shown on hover. */
function describe(row, input, description) {
  if (!description) return;
  const help = document.createElement("span");
  help.id = nextId();
  help.className = "help";
  help.textContent = description;
  input.setAttribute("aria-describedby", help.id);
  row.title = description;
  row.append(help);
}

/** A labelled range input: {row, input, set(value)}; `onInput` gets numbers as the user moves it. */
export function slider(label, { min, max, step, value, description = "" }, onInput) {
  const id = nextId();
  const row = document.createElement("div");
  row.className = "slider";
  const name = document.createElement("label");
  name.htmlFor = id;
  name.textContent = label;
  const input = Object.assign(document.createElement("input"), { type: "range", id, min, max, step, value });
  const output = document.createElement("output");
  output.htmlFor = id;
  const show = () => {
    output.value = format(input.value, step);
    input.setAttribute("aria-valuetext", `${label} ${output.value}`);
    input.style.setProperty("--pct", `${((input.value - min) / (max - min)) * 100}%`); // the track's fill
  };
  show();
  input.addEventListener("input", () => {
    show();
    onInput(Number(input.value));
  });
  row.append(name, input, output);
  describe(row, input, description);
  const set = (v) => {
    if (Number(input.value) !== v) input.value = v;
    show();
  };
  return { row, input, set };
}

/** An on/off switch (a checkbox with role=switch): {row, input, set(value)}. */
function toggle(label, description, checked, onChange) {
  const id = nextId();
  const row = document.createElement("div");
  row.className = "switch";
  const input = Object.assign(document.createElement("input"), { type: "checkbox", id, checked });
  input.setAttribute("role", "switch");
  const name = document.createElement("label");
  name.htmlFor = id;
  name.textContent = label;
  input.addEventListener("change", () => onChange(input.checked ? 1 : 0));
  row.append(input, name);
  describe(row, input, description);
  return { row, input, set: (v) => (input.checked = v >= 0.5) };
}

/** A titled group of controls; `extra` (optional) sits at the end of the title row. */
export function group(title, className, extra = null) {
  const section = document.createElement("div");
  section.className = `group ${className}`;
  section.setAttribute("role", "group");
  const head = document.createElement("div");
  head.className = "group-head";
  const heading = document.createElement("h2");
  heading.id = nextId();
  heading.textContent = title;
  section.setAttribute("aria-labelledby", heading.id);
  head.append(heading);
  if (extra) head.append(extra);
  section.append(head);
  return section;
}

export class ExpressionControls {
  #root;
  #avatar;
  #signature = "";
  #sync = []; // () => void: mirror the element's current values into the inputs

  /** `root` is an empty container; `avatar` the <mien-avatar> to steer. */
  constructor(root, avatar) {
    this.#root = root;
    this.#avatar = avatar;
    avatar.addEventListener("connect", () => this.#build());
    avatar.addEventListener("settings", () => this.#mirror());
    if (avatar.hello) this.#build();
  }

  /** Built once per set of names (a persona switch keeps the panel); values mirrored every time. */
  #build() {
    const hello = this.#avatar.hello;
    const signature = JSON.stringify([hello.emotions, hello.controls, hello.gain]);
    if (signature !== this.#signature) {
      this.#signature = signature;
      this.#sync = [];
      this.#root.replaceChildren(this.#face(), this.#mood(hello), this.#emotions(hello));
    }
    this.#mirror();
  }

  #mirror() {
    for (const sync of this.#sync) sync();
  }

  #face() {
    // Descriptions show on hover (title) and reach screen readers; this shows them on touch screens too.
    const help = toggle("Show help", "", this.#root.classList.contains("show-help"), (v) =>
      this.#root.classList.toggle("show-help", v === 1),
    );
    help.row.classList.add("help-toggle");
    const section = group("Face", "face", help.row);
    for (const control of this.#avatar.controls) {
      const { name, label, description } = control;
      const current = () => this.#avatar.controls.find((c) => c.name === name)?.value ?? control.default;
      const widget = isSwitch(control)
        ? toggle(label, description, current() >= 0.5, (v) => this.#avatar.setControl(name, v))
        : slider(
            label,
            { min: control.minimum, max: control.maximum, step: control.step, value: current(), description },
            (v) => this.#avatar.setControl(name, v),
          );
      widget.input.dataset.control = name;
      this.#sync.push(() => widget.set(current()));
      section.append(widget.row);
    }
    return section;
  }

  #mood(hello) {
    const section = group("Mood", "mood");
    const id = nextId();
    const row = document.createElement("div");
    row.className = "mood-row";
    const label = Object.assign(document.createElement("label"), { htmlFor: id });
    label.textContent = "Resting mood";
    const select = Object.assign(document.createElement("select"), { id });
    select.dataset.mood = "emotion";
    const own = new Option("persona's own", "");
    select.append(own, ...hello.emotions.map((e) => new Option(e, e)));
    const pads = padTable(hello);
    const intensity = slider(
      "Intensity",
      { min: 0, max: 1, step: 0.05, value: 0.3, description: "How strongly the face rests in the mood." },
      () => apply(),
    );
    intensity.input.dataset.mood = "intensity";
    intensity.input.setAttribute("aria-label", "Mood intensity");
    const apply = () => {
      if (select.value) this.#avatar.setMood(select.value, Number(intensity.input.value));
    };
    select.addEventListener("change", apply);
    this.#sync.push(() => {
      const mood = this.#avatar.mood;
      own.disabled = mood !== null; // the persona's mood comes back with "Reset to defaults"
      select.value = mood?.emotion ?? "";
      if (mood) intensity.set(mood.intensity);
      paint(intensity.row, pads.get(select.value), 1);
    });
    row.append(label, select);
    section.append(row, intensity.row);
    return section;
  }

  #emotions(hello) {
    const section = group("Emotions", "emotions");
    const range = hello.gain ?? { minimum: 0, maximum: 2, step: 0.05, default: 1, description: "" };
    const pads = padTable(hello);
    for (const emotion of hello.emotions) {
      const gain = slider(
        emotion,
        { min: range.minimum, max: range.maximum, step: range.step, value: range.default },
        (v) => this.#avatar.setGain(emotion, v),
      );
      gain.input.dataset.emotion = emotion;
      gain.input.setAttribute("aria-label", `${emotion} gain`);
      gain.row.title = range.description;
      paint(gain.row, pads.get(emotion), 1);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "show";
      button.textContent = "Show";
      button.dataset.emotion = emotion;
      button.setAttribute("aria-label", `Show ${emotion}`);
      button.addEventListener("click", () => this.#avatar.setEmotion(emotion, 1));
      gain.row.append(button);
      section.append(gain.row);
      this.#sync.push(() => gain.set(this.#avatar.gains[emotion] ?? range.default));
    }
    return section;
  }
}
