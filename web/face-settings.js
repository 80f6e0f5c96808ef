// What the user asked of the face (controls, per-emotion gains, mood), kept by <mien-avatar> so that every
// new session, after a reconnect, a resume or a persona switch, gets the same face again. Only values the
// server accepts (per its hello) are kept; names come from hello, never from here.

/** The control in `hello.controls` named `name`, or undefined. */
export function controlInfo(hello, name) {
  return hello?.controls?.find((c) => c.name === name);
}

/** A control with step 1 over 0..1 is an on/off switch. */
export function isSwitch(control) {
  return control.step === 1 && control.minimum === 0 && control.maximum === 1;
}

function inRange(value, { minimum, maximum, step }) {
  if (typeof value !== "number" || !Number.isFinite(value)) return false;
  if (value < minimum || value > maximum) return false;
  return step !== 1 || Number.isInteger(value); // step-1 controls take whole numbers (the server's rule)
}

export class FaceSettings {
  #controls = new Map(); // name -> value
  #gains = new Map(); // emotion -> gain
  #mood = null; // {emotion, intensity} or null: the persona's own

  /** Remember a control value; `hello` null (not connected yet) defers the check to `replay`. */
  setControl(hello, name, value) {
    const control = controlInfo(hello, name);
    if (hello && !(control && inRange(value, control))) return false;
    this.#controls.set(name, value);
    return true;
  }

  setGain(hello, emotion, gain) {
    if (hello && !(hello.emotions.includes(emotion) && hello.gain && inRange(gain, hello.gain))) return false;
    this.#gains.set(emotion, gain);
    return true;
  }

  setMood(hello, emotion, intensity) {
    const unit = { minimum: 0, maximum: 1, step: 0 };
    if (hello && !(hello.emotions.includes(emotion) && inRange(intensity, unit))) return false;
    this.#mood = { emotion, intensity };
    return true;
  }

  /** A control's value: the user's, else the session's (`value`, if the server sends one), else the default. */
  control(hello, name) {
    const info = controlInfo(hello, name);
    return this.#controls.get(name) ?? info?.value ?? info?.default;
  }

  gain(hello, emotion) {
    return this.#gains.get(emotion) ?? hello?.gain?.default ?? 1;
  }

  /** The mood the user set, or null (the persona's own mood). */
  get mood() {
    return this.#mood ? { ...this.#mood } : null;
  }

  /** Messages that put the user's choices on a fresh session (invalid ones, for this server, are dropped). */
  replay(hello) {
    const messages = [];
    for (const [name, value] of this.#controls) {
      if (this.setControl(hello, name, value)) messages.push({ type: "set_control", name, value });
      else this.#controls.delete(name);
    }
    for (const [emotion, gain] of this.#gains) {
      if (this.setGain(hello, emotion, gain)) messages.push({ type: "set_gain", emotion, gain });
      else this.#gains.delete(emotion);
    }
    const mood = this.#mood;
    if (mood && this.setMood(hello, mood.emotion, mood.intensity)) {
      messages.push({ type: "set_mood", ...mood });
    } else {
      this.#mood = null;
    }
    return messages;
  }

  /**
   * Forget the user's choices; returns the messages that take the session back to its defaults. The persona's
   * resting mood is not in hello (unless the server adds `persona.mood`), so a mood the user set is cleared
   * to none (intensity 0).
   */
  reset(hello) {
    const messages = [];
    for (const name of this.#controls.keys()) {
      const info = controlInfo(hello, name);
      if (info) messages.push({ type: "set_control", name, value: info.value ?? info.default });
    }
    for (const emotion of this.#gains.keys()) {
      if (hello?.gain) messages.push({ type: "set_gain", emotion, gain: hello.gain.default });
    }
    if (this.#mood && hello?.emotions?.length) {
      const own = hello.persona?.mood;
      messages.push({ type: "set_mood", ...(own ?? { emotion: hello.emotions[0], intensity: 0 }) });
    }
    this.#controls.clear();
    this.#gains.clear();
    this.#mood = null;
    return messages;
  }
}
