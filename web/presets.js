// Named presets of the whole face: every control, every gain and the mood, saved in localStorage (shared by
// every Mien page of this origin), plus "Reset to defaults". A preset stores names from the hello it was
// saved under; loading it on a server without some of them skips those.

import { group } from "./controls.js";

const KEY = "mien-presets";

function localStore() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // refused (sandboxed frame, privacy settings)
  }
}

function readAll(storage) {
  try {
    const data = JSON.parse(storage?.getItem(KEY) ?? "{}");
    return data && typeof data === "object" && !Array.isArray(data) ? data : {};
  } catch {
    return {}; // unreadable or refused: no presets
  }
}

function writeAll(storage, presets) {
  try {
    storage?.setItem(KEY, JSON.stringify(presets));
    if (!storage) return false;
    return true;
  } catch {
    return false; // refused or full
  }
}

/** Everything the face is set to now, as a preset. */
export function snapshot(avatar) {
  return {
    controls: Object.fromEntries(avatar.controls.map((c) => [c.name, c.value])),
    gains: { ...avatar.gains },
    mood: avatar.mood,
  };
}

/** Put a preset on the face: back to defaults, then every value the preset holds that this server knows. */
export function applyPreset(avatar, preset) {
  avatar.resetControls();
  const finite = (v) => typeof v === "number" && Number.isFinite(v);
  for (const control of avatar.controls) {
    const value = preset.controls?.[control.name];
    if (finite(value) && value !== control.value) avatar.setControl(control.name, value);
  }
  const gains = avatar.gains;
  for (const [emotion, gain] of Object.entries(preset.gains ?? {})) {
    if (emotion in gains && finite(gain) && gain !== gains[emotion]) avatar.setGain(emotion, gain);
  }
  const mood = preset.mood;
  if (mood && avatar.emotions.includes(mood.emotion) && finite(mood.intensity)) {
    avatar.setMood(mood.emotion, mood.intensity);
  }
}

export class PresetPanel {
  #avatar;
  #storage;
  #select;
  #name;
  #status;

  /** `root` is an empty container; `avatar` the <mien-avatar> the presets are for. */
  constructor(root, avatar, storage = localStore()) {
    this.#avatar = avatar;
    this.#storage = storage;
    const section = group("Presets", "presets");
    const id = (n) => `mien-preset-${n}`;

    const pick = document.createElement("div");
    pick.className = "preset-row";
    const pickLabel = Object.assign(document.createElement("label"), { htmlFor: id("pick") });
    pickLabel.textContent = "Preset";
    this.#select = Object.assign(document.createElement("select"), { id: id("pick") });
    const load = this.#button("Load", () => this.#load());
    pick.append(pickLabel, this.#select, load, this.#button("Delete", () => this.#delete()));

    const save = document.createElement("form");
    save.className = "preset-row";
    const nameLabel = Object.assign(document.createElement("label"), { htmlFor: id("name") });
    nameLabel.textContent = "Save as";
    this.#name = Object.assign(document.createElement("input"), {
      id: id("name"),
      type: "text",
      placeholder: "e.g. calm listener",
      maxLength: 40,
      required: true,
    });
    const submit = Object.assign(document.createElement("button"), { type: "submit", textContent: "Save" });
    save.append(nameLabel, this.#name, submit);
    save.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#save();
    });

    const reset = this.#button("Reset to defaults", () => {
      avatar.resetControls();
      this.#say("Controls back to their defaults.");
    });
    reset.classList.add("reset");
    this.#status = document.createElement("p");
    this.#status.className = "preset-status";
    this.#status.setAttribute("role", "status");

    section.append(pick, save, reset, this.#status);
    root.replaceChildren(section);
    this.#list();
    globalThis.addEventListener?.("storage", (e) => e.key === KEY && this.#list()); // other tabs
  }

  #button(text, onClick) {
    const button = Object.assign(document.createElement("button"), { type: "button", textContent: text });
    button.addEventListener("click", onClick);
    return button;
  }

  #say(text) {
    this.#status.textContent = text;
  }

  #list(selected = this.#select.value) {
    const names = Object.keys(readAll(this.#storage)).sort((a, b) => a.localeCompare(b));
    this.#select.replaceChildren(...names.map((n) => new Option(n, n)));
    if (!names.length) this.#select.append(new Option("(none yet)", ""));
    if (names.includes(selected)) this.#select.value = selected;
  }

  #save() {
    const name = this.#name.value.trim();
    if (!name || !this.#avatar.hello) return;
    const presets = readAll(this.#storage);
    presets[name] = snapshot(this.#avatar);
    if (!writeAll(this.#storage, presets)) {
      this.#say("Could not save: this browser refused to store it.");
      return;
    }
    this.#name.value = "";
    this.#list(name);
    this.#say(`Saved “${name}”.`);
  }

  #load() {
    const name = this.#select.value;
    const preset = readAll(this.#storage)[name];
    if (!preset || !this.#avatar.hello) return;
    applyPreset(this.#avatar, preset);
    this.#say(`Loaded “${name}”.`);
  }

  #delete() {
    const name = this.#select.value;
    const presets = readAll(this.#storage);
    if (!(name in presets)) return;
    delete presets[name];
    writeAll(this.#storage, presets);
    this.#list();
    this.#say(`Deleted “${name}”.`);
  }
}
