// <mien-avatar>'s own frame: the theme (dark, light, or the system's: documented --mien-* custom properties
// override any colour), a wall against the host page's inherited styles, and the layouts the element picks
// from its size (element-ui.js sets data-layout): "wide" puts the chat beside the face, "tall" under it,
// "short" over its lower part; controls sit under the chat, or open as a drawer from the bottom.

const LIGHT = `
  --bg: var(--mien-bg, #faf7f4);
  --panel: var(--mien-panel, #ffffff);
  --panel-2: var(--mien-panel-2, #f1ece7);
  --line: var(--mien-line, #ddd5ce);
  --text: var(--mien-text, #231f1c);
  --muted: var(--mien-muted, #6f665f);
  --accent: var(--mien-accent, #b3622a);
  --on-accent: var(--mien-on-accent, #ffffff);
  --danger: var(--mien-danger, #c0392b);
  --stage: var(--mien-stage, radial-gradient(ellipse 60% 55% at 50% 42%, #f6ede6 0%, #e4d8cf 55%, #cfc2b8 100%));
  --user-bg: var(--mien-user-bubble, #dfe4f3);
  --script-bg: #e4e9f5; --script-line: #9aa6c4; --code-bg: rgb(0 0 0 / .06); --link: #9a4a12;
  --error-bg: #fde8e5; --error-text: #7a2318; --error-line: #e8a89f; --error-detail: #8d4a40;
  --tone-l: .42; --soft-l: .45; --show-l: .92; --show-hover-l: .86;
  color-scheme: light;
`;

export const FRAME_CSS = String.raw`
.frame {
  --u: var(--mien-font-size, 15px);
  --bg: var(--mien-bg, #141211);
  --panel: var(--mien-panel, #1d1a19);
  --panel-2: var(--mien-panel-2, #262220);
  --line: var(--mien-line, #35302d);
  --text: var(--mien-text, #ece7e2);
  --muted: var(--mien-muted, #9d948c);
  --accent: var(--mien-accent, #e3a878);
  --on-accent: var(--mien-on-accent, #2a1b10);
  --danger: var(--mien-danger, #ff8a7a);
  --radius: var(--mien-radius, 14px);
  --stage: var(--mien-stage, radial-gradient(ellipse 60% 55% at 50% 42%, #4a3f39 0%, #2a2422 55%, #171413 100%));
  --user-bg: var(--mien-user-bubble, #3b3f52);
  --script-bg: #31384a; --script-line: #56607a; --code-bg: rgb(0 0 0 / .3); --link: #f3c49b;
  --error-bg: #4a2320; --error-text: #ffd9d3; --error-line: #7a3a33; --error-detail: #e7b7ae;
  --tone-l: .92; --soft-l: .85; --show-l: .33; --show-hover-l: .4;
  color-scheme: dark;
}
.frame[data-theme="light"] {${LIGHT}}
@media (prefers-color-scheme: light) {
  .frame[data-theme="auto"] {${LIGHT}}
}

/* Only inherited properties cross into a shadow root: set every one here, so a host page's body { … } (or a
   rule on the element itself) cannot restyle the inside. Lengths use --u, never rem (the page's root). */
.frame {
  position: absolute; inset: 0; display: flex; flex-direction: column; overflow: hidden;
  font: 400 var(--u)/1.5 var(--mien-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  font-variant: normal; font-stretch: normal; font-kerning: auto; font-size-adjust: none;
  color: var(--text); -webkit-text-fill-color: currentColor; text-align: start; text-indent: 0;
  text-transform: none; text-shadow: none; text-decoration-color: currentColor;
  letter-spacing: normal; word-spacing: normal; white-space: normal; word-break: normal;
  overflow-wrap: normal; hyphens: manual; tab-size: 8; line-break: auto; text-rendering: auto;
  visibility: visible; cursor: auto; list-style: none; quotes: auto; border-collapse: separate;
  writing-mode: horizontal-tb; caret-color: auto; pointer-events: auto;
}
*, *::before, *::after { box-sizing: border-box; }
button, input, select, textarea { font: inherit; color: inherit; letter-spacing: inherit; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
button, select { cursor: pointer; }
select {
  padding: calc(.3 * var(--u)) calc(.5 * var(--u)); border-radius: 8px; border: 1px solid var(--line);
  background: var(--bg);
}
[hidden] { display: none !important; }
.visually-hidden {
  position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap;
}
.muted { color: var(--muted); }

/* ---------------------------------------------------------------- layout */

.portrait { position: relative; flex: 1 1 auto; min-height: 0; min-width: 0; }
.side { display: none; }
.frame[data-side] .portrait { background: var(--stage); }
/* The head mesh ends at the base of the neck: fade the bottom edge into the backdrop. */
.frame[data-side] .portrait::after {
  content: ""; position: absolute; inset: auto 0 0 0; height: 14%; pointer-events: none;
  background: linear-gradient(to top, color-mix(in srgb, var(--bg) 70%, transparent), transparent);
}
.frame[data-side] .side {
  display: flex; flex-direction: column; min-height: 0; min-width: 0; background: var(--panel);
}
.frame[data-chat="off"] :is(.bar, .chat, .errors, .composer) { display: none; }
.frame[data-controls="off"] .controls { display: none; }

.frame[data-layout="wide"] { flex-direction: row; }
.frame[data-layout="wide"] .portrait { flex: 1.35 1 0; }
.frame[data-layout="wide"] .side { flex: 1 1 0; min-width: 300px; border-left: 1px solid var(--line); }

.frame[data-layout="tall"] .portrait { flex: 0 0 42%; }
.frame[data-layout="tall"][data-chat="off"] .portrait { flex: 1 1 auto; }
.frame[data-layout="tall"] .side { flex: 1 1 0; border-top: 1px solid var(--line); }
.frame[data-layout="tall"][data-chat="off"] .side { flex: none; }

/* Short: the face fills the element and the chat lies over its lower part. */
.frame[data-layout="short"] .portrait { position: absolute; inset: 0; }
.frame[data-layout="short"] .side {
  position: absolute; inset: auto 0 0 0; max-height: 72%;
  background: color-mix(in srgb, var(--panel) 86%, transparent); backdrop-filter: blur(6px);
}
.frame[data-layout="short"] .chat { min-height: calc(4 * var(--u)); }
.frame[data-layout="short"] .bar { padding-block: calc(.4 * var(--u)); }

/* Controls: under the chat when wide; a drawer from the bottom otherwise. */
.frame:not([data-layout="wide"]) .controls { max-height: none; overflow: visible; }
.frame:not([data-layout="wide"]) .controls summary { position: static; }
.frame:not([data-layout="wide"]) .controls[open] {
  position: absolute; inset: auto 0 0 0; z-index: 3; overflow-y: auto;
  max-height: calc(var(--frame-h, 600px) * .58); /* the face stays in view while it is tuned */
  background: var(--panel); border-top: 1px solid var(--line); box-shadow: 0 -8px 24px rgb(0 0 0 / .25);
}
.frame:not([data-layout="wide"]) .controls[open] summary { position: sticky; top: 0; }

/* ---------------------------------------------------------------- bar, state, voice */

.bar {
  display: flex; align-items: baseline; flex-wrap: wrap; gap: calc(.4 * var(--u)) calc(.75 * var(--u));
  padding: calc(.9 * var(--u)) calc(1.1 * var(--u)) calc(.6 * var(--u)); border-bottom: 1px solid var(--line);
}
.bar .name { margin: 0; font-size: calc(1.2 * var(--u)); font-weight: 700; letter-spacing: .02em; }
.bar slot[name="tools"] { display: contents; }
.tools { display: flex; gap: calc(.4 * var(--u)); flex: none; margin-left: auto; }
.tools button, ::slotted(button) {
  padding: calc(.2 * var(--u)) calc(.7 * var(--u)); border-radius: 999px; font: inherit;
  font-size: calc(.8 * var(--u)); background: none; border: 1px solid var(--line); color: var(--text);
}
.tools button:hover { border-color: var(--muted); }
.tools button.armed { border-color: var(--danger); color: var(--danger); }
.tools button[aria-pressed="true"] { border-color: var(--accent); color: var(--accent); }
::highlight(mien-caption) { text-decoration: underline 2px var(--accent); text-underline-offset: 3px; }

.state {
  position: absolute; top: calc(1 * var(--u)); left: calc(1 * var(--u)); z-index: 2; margin: 0;
  padding: calc(.25 * var(--u)) calc(.75 * var(--u)); border-radius: 999px;
  font-size: calc(.85 * var(--u)); color: var(--text);
  background: color-mix(in srgb, var(--bg) 55%, transparent); backdrop-filter: blur(6px);
  border: 1px solid color-mix(in srgb, var(--text) 8%, transparent);
}
.frame:not([data-chat="on"]) .state { display: none; }
.state::before {
  content: ""; display: inline-block; width: .5em; height: .5em; margin-right: .45em;
  border-radius: 50%; background: var(--muted); vertical-align: .05em;
}
.state[data-state="idle"]::before { background: #7fc78a; }
.state[data-state="listening"]::before { background: #7fb6e3; }
.state[data-state="thinking"]::before { background: var(--accent); animation: pulse 1s ease-in-out infinite; }
.state[data-state="speaking"]::before { background: #f2c14e; }
.state[data-state="offline"]::before { background: var(--danger); }
@keyframes pulse { 50% { opacity: .3; } }

/* Whenever the microphone is open (audio going to the server), this says so on the face. */
.mic-on {
  position: absolute; bottom: calc(1 * var(--u)); left: calc(1 * var(--u)); z-index: 2; margin: 0;
  padding: calc(.2 * var(--u)) calc(.7 * var(--u)); border-radius: 999px; font-size: calc(.8 * var(--u));
  color: var(--text); background: color-mix(in srgb, var(--bg) 55%, transparent);
}
.mic-on[hidden] { display: none; }
.mic-on::before {
  content: ""; display: inline-block; width: .55em; height: .55em; margin-right: .45em; border-radius: 50%;
  background: var(--danger); animation: pulse 1.4s ease-in-out infinite;
}

/* Browsers start audio only after a user gesture: with voice="on", this asks for one. */
.hear {
  position: absolute; top: calc(1 * var(--u)); right: calc(1 * var(--u)); z-index: 2;
  padding: calc(.35 * var(--u)) calc(.9 * var(--u)); border-radius: 999px; font-weight: 600;
  color: var(--on-accent); background: var(--accent); border: 0; box-shadow: 0 2px 10px rgb(0 0 0 / .3);
}

@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation: none !important; transition: none !important; scroll-behavior: auto !important; }
}
`;
