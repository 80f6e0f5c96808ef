// Attaching a picture to the next message: the composer's picture button (a file picker), pasting one, or
// dropping one on the composer; a small preview with a remove button until it is sent. Shown only when the
// server says pictures can be shown (hello.vision); the picture itself never leaves the page but with the
// message. Driven only by the <mien-avatar> API, like the composer that uses it.

export class PictureAttach {
  #button;
  #input;
  #preview;
  #el;
  #file = null;

  /** `form`: the composer, holding `.attach` (a button), `input[type=file]` and `.attached` (the preview). */
  constructor(form, el) {
    this.#button = form.querySelector(".attach");
    this.#input = form.querySelector("input[type=file]");
    this.#preview = form.querySelector(".attached");
    this.#el = el;
    el.addEventListener("connect", (e) => {
      const vision = e.detail.hello.vision;
      this.#button.hidden = !vision?.available;
      this.#input.accept = (vision?.types ?? []).join(",");
      if (!vision?.available) this.#set(null);
    });
    this.#button.addEventListener("click", () => this.#input.click());
    this.#input.addEventListener("change", () => this.#set(this.#input.files?.[0] ?? null));
    form.addEventListener("paste", (e) => {
      const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith("image/"));
      if (file && this.#offered()) {
        e.preventDefault();
        this.#set(file);
      }
    });
    form.addEventListener("dragover", (e) => this.#offered() && e.preventDefault());
    form.addEventListener("drop", (e) => {
      const file = [...(e.dataTransfer?.files ?? [])].find((f) => f.type.startsWith("image/"));
      if (!file || !this.#offered()) return;
      e.preventDefault();
      this.#set(file);
    });
  }

  /** The picture to send with the message now (and no longer attached), or null. */
  take() {
    const file = this.#file;
    this.#set(null);
    return file;
  }

  get attached() {
    return this.#file !== null;
  }

  #offered() {
    return Boolean(this.#el.hello?.vision?.available);
  }

  #set(file) {
    this.#file = file;
    this.#input.value = "";
    this.#preview.replaceChildren();
    this.#preview.hidden = !file;
    if (!file) return;
    const img = document.createElement("img");
    img.src = URL.createObjectURL(file);
    img.alt = `picture to send: ${file.name || "pasted"}`;
    img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", "Remove the picture");
    remove.addEventListener("click", () => this.#set(null));
    this.#preview.append(img, remove);
  }
}
