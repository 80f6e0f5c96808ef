// Mien's own page: the <mien-avatar> element, whose built-in chat, voice and controls are the whole
// interface, plus what only this page offers in the element's slots: the model's name, Export, and a persona
// picker. Everything goes through the element's public API and events, as an embedding page would.

const $ = (selector) => document.querySelector(selector);
const avatar = $("mien-avatar");
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
if (matchMedia("(max-width: 820px)").matches) avatar.setAttribute("controls", "on"); // phones: the chat first
await import("./mien-avatar.js");

// ---------------------------------------------------------------- persona

avatar.addEventListener("connect", (e) => {
  const { hello, reason, resumed } = e.detail;
  $("#model").textContent = hello.model;
  document.title = hello.persona.name === "Mien" ? "Mien" : `${hello.persona.name} · Mien`;
  personaPicker.replaceChildren(...hello.personas.map((p) => new Option(p.name, p.id)));
  personaPicker.value = hello.persona.id;
  personaPicker.disabled = hello.personas.length < 2;
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

// ---------------------------------------------------------------- export

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
    // Shown in the element's error list, which shows every `error` event of the element.
    const detail = { code: "export_failed", message: err.message, replyId: null, source: "client" };
    avatar.dispatchEvent(new CustomEvent("error", { detail, bubbles: true, composed: true }));
  }
});
