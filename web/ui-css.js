// The built-in UI's component styles (chat, emotion chips, composer, errors, controls, presets) as one CSS
// string, adopted into <mien-avatar>'s shadow root (element-ui.js). Colours are the theme's variables
// (frame-css.js); lengths are multiples of --u (the element's font size) rather than rem, so a host page's
// root font size cannot resize the inside of the element.

export const UI_CSS = String.raw`
/* ---------------------------------------------------------------- chat */

.chat {
  flex: 1 1 auto; min-height: calc(8 * var(--u)); overflow-y: auto;
  margin: 0; padding: calc(1 * var(--u)) calc(1.1 * var(--u)); list-style: none;
  display: flex; flex-direction: column; gap: calc(.6 * var(--u));
}
.msg { max-width: 88%; }
.msg .text {
  margin: 0; padding: calc(.55 * var(--u)) calc(.8 * var(--u)); border-radius: var(--radius);
  white-space: pre-wrap; overflow-wrap: anywhere;
}
/* Markdown in replies: compact blocks inside the bubble. */
.msg .text > :is(p, ul, ol, pre) { margin: 0 0 calc(.5 * var(--u)); }
.msg .text > :last-child { margin-bottom: 0; }
.msg .text :is(ul, ol) { padding-left: calc(1.3 * var(--u)); white-space: normal; }
.msg .text li { white-space: pre-wrap; }
.msg .text code {
  font: .86em/1.4 ui-monospace, "SFMono-Regular", Menlo, monospace;
  padding: calc(.05 * var(--u)) calc(.3 * var(--u)); border-radius: 5px; background: var(--code-bg);
}
.msg .text pre {
  overflow-x: auto; padding: calc(.5 * var(--u)) calc(.65 * var(--u)); border-radius: 8px; background: var(--code-bg);
  white-space: pre;
}
.msg .text pre code { padding: 0; background: none; }
.msg .text a { color: var(--link); text-underline-offset: 2px; }
.msg .text a:hover { color: var(--text); }
.msg .text .md-heading { font-size: 1.02em; }
.msg.restored { opacity: .8; }
.msg.user, .msg.script { align-self: flex-end; }
.msg.user .text { background: var(--user-bg); border-bottom-right-radius: 4px; }
.msg.script .text { background: var(--script-bg); border: 1px dashed var(--script-line); border-bottom-right-radius: 4px; }
.msg.mien { align-self: flex-start; }
.msg.mien .text { background: var(--panel-2); border-bottom-left-radius: 4px; }
.msg.mien[aria-busy="true"] .text:empty::after { content: "…"; color: var(--muted); }
.msg[data-label]::after {
  content: attr(data-label); display: block; margin-top: calc(.15 * var(--u));
  font-size: calc(.75 * var(--u)); color: var(--muted); text-align: inherit;
}
.msg.user[data-label]::after, .msg.script[data-label]::after { text-align: right; }
.msg.failed .text, .msg.error .text { border: 1px solid color-mix(in srgb, var(--danger) 60%, transparent); }

/* Emotion colours come from the server's pleasure-arousal-dominance (web/colors.js): --hue is an oklch hue,
   --chroma grows with how far the emotion is from neutral and with the cue's intensity. */
.chip {
  --hue: 60; --chroma: 0;
  display: inline-block; margin: 0 calc(.3 * var(--u)) 0 calc(.1 * var(--u)); padding: 0 calc(.45 * var(--u));
  border-radius: 999px; font-size: calc(.72 * var(--u)); font-weight: 600; line-height: calc(1.45 * var(--u));
  vertical-align: calc(.08 * var(--u)); letter-spacing: .02em; white-space: nowrap;
  color: oklch(.97 calc(var(--chroma) * .4) var(--hue));
  background: oklch(.47 var(--chroma) var(--hue) / .9);
  border: 1px solid oklch(.68 var(--chroma) var(--hue) / .7);
  cursor: help;
}
/* The listening face (empathy): a lighter, outlined chip, it is a reaction rather than the reply's tone. */
.chip[data-source="empathy"] {
  font-weight: 500; background: transparent; border-style: dashed;
  color: oklch(var(--soft-l) calc(var(--chroma) * .6) var(--hue));
}
.chip[data-source="inferred"] { border-style: dotted; }
/* A gesture ([nod], *shakes head*): a neutral, square-cornered chip in italics, a movement not a feeling. */
.chip.gesture {
  border-radius: calc(.25 * var(--u)); font-style: italic; font-weight: 500;
  color: inherit; background: transparent; border: 1px solid currentColor; opacity: .75;
}
.chip.gesture[data-source="inferred"] { border-style: dotted; } /* the words called for it */
.tone { color: oklch(var(--tone-l) calc(var(--chroma) * .3) var(--hue, 60)); }
.tone:not([style]) { color: inherit; }

.note { align-self: center; font-size: calc(.8 * var(--u)); color: var(--muted); }
.note.warn { color: var(--danger); }

/* ---------------------------------------------------------------- errors */

.errors { margin: 0; padding: 0 calc(1.1 * var(--u)); list-style: none; }
.errors:empty { display: none; }
.errors li {
  display: grid; grid-template-columns: minmax(0, 1fr) auto; column-gap: calc(.5 * var(--u));
  margin-bottom: calc(.4 * var(--u)); padding: calc(.4 * var(--u)) calc(.6 * var(--u)); border-radius: 8px;
  color: var(--error-text); background: var(--error-bg); border: 1px solid var(--error-line); font-size: calc(.85 * var(--u));
}
.errors li .plain { font-weight: 600; }
.errors li .detail { grid-row: 2; font-size: calc(.78 * var(--u)); color: var(--error-detail); overflow-wrap: anywhere; }
.errors li code { font-family: ui-monospace, monospace; }
.errors li button {
  grid-row: 1 / span 2; grid-column: 2; align-self: start;
  border: 0; background: none; cursor: pointer; font-size: calc(1.1 * var(--u)); line-height: 1; padding: 0 calc(.2 * var(--u));
}

/* ---------------------------------------------------------------- composer */

/* The text keeps room for a few words: when the buttons (picture, Talk, Send, Stop) would squeeze it, they
   wrap under it instead. */
.composer {
  display: flex; flex-wrap: wrap; justify-content: flex-end; align-items: flex-end; gap: calc(.5 * var(--u));
  padding: calc(.75 * var(--u)) calc(1.1 * var(--u)); border-top: 1px solid var(--line);
}
.composer textarea {
  flex: 1 1 calc(11 * var(--u)); min-width: 0; padding: calc(.55 * var(--u)) calc(.85 * var(--u)); resize: none;
  max-height: calc(9.5 * var(--u)); overflow-y: auto; line-height: 1.4;
  border: 1px solid var(--line); border-radius: 18px; background: var(--bg);
}
.composer button {
  padding: calc(.55 * var(--u)) calc(1.1 * var(--u)); border-radius: 999px; border: 1px solid transparent; cursor: pointer;
}
.composer .send { background: var(--accent); color: var(--on-accent); font-weight: 600; }
.composer .stop { background: none; border-color: var(--danger); color: var(--danger); }
.composer button[hidden] { display: none; }
/* The Talk button: pressed while the microphone is open; its ring fills with the level (--level 0..1). */
.composer .mic {
  --level: 0; position: relative; display: grid; place-items: center; padding: calc(.5 * var(--u));
  width: calc(2.4 * var(--u)); height: calc(2.4 * var(--u)); background: none; border-color: var(--line); color: var(--text);
  touch-action: none; user-select: none;
}
.composer .mic svg { width: calc(1.2 * var(--u)); height: calc(1.2 * var(--u)); fill: currentColor; }
.composer .mic[aria-pressed="true"] { border-color: var(--danger); color: var(--danger); }
.composer .mic[data-problem="true"] { opacity: .55; }
.composer .mic .meter {
  position: absolute; inset: -3px; border-radius: 50%; pointer-events: none;
  box-shadow: 0 0 0 calc(var(--level) * 5px) color-mix(in srgb, var(--danger) 45%, transparent);
}
/* The Models panel: who writes, who judges, the prompts, the scores. */
.models-body label { display: block; margin: calc(.5 * var(--u)) 0 calc(.2 * var(--u)); font-size: calc(.8 * var(--u)); }
.models-body textarea {
  box-sizing: border-box; width: 100%; resize: vertical; padding: calc(.4 * var(--u)); font: inherit;
  font-size: calc(.8 * var(--u)); border: 1px solid var(--line); border-radius: 8px; background: var(--bg); color: var(--text);
}
.models-body .roles, .models-body .hint, .models-body .status { font-size: calc(.78 * var(--u)); color: var(--muted); }
.models-body .row { display: flex; gap: calc(.4 * var(--u)); align-items: center; margin-top: calc(.4 * var(--u)); }
.models-body h3 { margin: calc(.7 * var(--u)) 0 calc(.2 * var(--u)); font-size: calc(.85 * var(--u)); }
.models-body .history { margin: 0; padding-left: calc(1.1 * var(--u)); font-size: calc(.75 * var(--u)); }
.models-body .history li { cursor: help; }
/* The evaluator's verdict under a reply: a bar per criterion, its reason on hover. */
.scorecard {
  display: flex; flex-wrap: wrap; gap: calc(.25 * var(--u)) calc(.4 * var(--u)); margin-top: calc(.25 * var(--u));
  font-size: calc(.7 * var(--u)); color: var(--muted);
}
.scorecard .overall { font-weight: 600; color: var(--text); cursor: help; }
.scorecard .score {
  --score: 0; padding: 0 calc(.35 * var(--u)); border-radius: 4px; cursor: help;
  background: linear-gradient(90deg, color-mix(in srgb, var(--accent) 35%, transparent) calc(var(--score) * 100%), var(--panel-2) 0);
}
.scorecard[data-evaluated="false"] { font-style: italic; cursor: help; }
/* Teacher + student: which part came from the teacher, on request. */
.guidance { margin-top: calc(.2 * var(--u)); font-size: calc(.7 * var(--u)); color: var(--muted); }
.guidance summary { cursor: pointer; }
.guidance p { margin: calc(.2 * var(--u)) 0 0; }
/* Pictures: the one attached to the next message, and the one shown with a sent message. */
.composer .attach { display: grid; place-items: center; padding: calc(.5 * var(--u)); background: none; border-color: var(--line); color: var(--text); }
.composer .attach svg { width: calc(1.2 * var(--u)); height: calc(1.2 * var(--u)); fill: currentColor; }
.composer .attached { position: relative; flex: none; }
.composer .attached[hidden] { display: none; }
.composer .attached img { display: block; max-width: calc(3.2 * var(--u)); max-height: calc(3.2 * var(--u)); border-radius: 6px; }
.composer .attached .remove { position: absolute; top: -6px; right: -6px; padding: 0 5px; line-height: 1.3; }
.msg .picture { display: block; max-width: 100%; max-height: calc(12 * var(--u)); margin-bottom: calc(.3 * var(--u)); border-radius: var(--radius); }
.msg.user .picture { margin-left: auto; }
/* The user's words while they speak: shown as they are recognised, final when the turn ends. */
.msg.user.spoken[aria-busy="true"] .text { opacity: .7; font-style: italic; }
.msg.user.spoken[aria-busy="true"] .text:empty::after { content: "…"; color: var(--muted); }

/* ---------------------------------------------------------------- controls */

.controls { border-top: 1px solid var(--line); max-height: 45%; overflow-y: auto; }
.controls summary {
  position: sticky; top: 0; z-index: 1; background: var(--panel);
  padding: calc(.6 * var(--u)) calc(1.1 * var(--u)); cursor: pointer; font-weight: 600; font-size: calc(.9 * var(--u)); color: var(--muted);
}
.controls-body { padding: 0 calc(1.1 * var(--u)) calc(.5 * var(--u)); }
.controls-body p { margin: 0; }

.group { padding: calc(.3 * var(--u)) 0 calc(.5 * var(--u)); border-top: 1px solid var(--line); }
.controls-body:first-of-type .group { border-top: 0; }
.group-head { display: flex; align-items: center; justify-content: space-between; gap: calc(.5 * var(--u)); }
.group h2 {
  margin: calc(.3 * var(--u)) 0 calc(.35 * var(--u)); font-size: calc(.75 * var(--u)); font-weight: 600; letter-spacing: .08em;
  text-transform: uppercase; color: var(--muted);
}
.persona-row, .mood-row, .preset-row {
  display: flex; flex-wrap: wrap; align-items: center; gap: calc(.5 * var(--u)); padding: calc(.2 * var(--u)) 0; font-size: calc(.88 * var(--u));
}
.persona-row label, .mood-row label, .preset-row label { min-width: calc(7 * var(--u)); }
.preset-row select { flex: 1 1 calc(7 * var(--u)); min-width: 0; }
.preset-row input[type="text"] {
  flex: 1 1 calc(8 * var(--u)); min-width: 0; padding: calc(.3 * var(--u)) calc(.6 * var(--u)); border-radius: 8px;
  border: 1px solid var(--line); background: var(--bg);
}
.group button:not(.show) {
  padding: calc(.25 * var(--u)) calc(.75 * var(--u)); border-radius: 999px; font-size: calc(.82 * var(--u));
  background: var(--panel-2); border: 1px solid var(--line);
}
.group button:not(.show):hover { border-color: var(--muted); }
.presets .reset { margin-top: calc(.35 * var(--u)); }
.preset-status { min-height: 1.2em; font-size: calc(.8 * var(--u)); color: var(--muted); }

.group-head .help-toggle { padding: 0; gap: calc(.4 * var(--u)); font-size: calc(.78 * var(--u)); color: var(--muted); }
.group-head .help-toggle input[role="switch"] { width: calc(1.9 * var(--u)); height: calc(1.05 * var(--u)); }
.group-head .help-toggle input[role="switch"]::after { width: calc(calc(1.05 * var(--u)) - 6px); }
.group-head .help-toggle input[role="switch"]:checked::after { transform: translateX(calc(.85 * var(--u))); }
.help { display: none; grid-column: 1 / -1; font-size: calc(.78 * var(--u)); color: var(--muted); margin: calc(-.1 * var(--u)) 0 calc(.3 * var(--u)); }
.show-help .help { display: block; }

.switch {
  display: flex; flex-wrap: wrap; align-items: center; gap: calc(.6 * var(--u)); padding: calc(.3 * var(--u)) 0; font-size: calc(.88 * var(--u));
}
.switch input[role="switch"] {
  appearance: none; flex: none; width: calc(2.3 * var(--u)); height: calc(1.3 * var(--u)); margin: 0; border-radius: 999px;
  background: var(--line); position: relative; cursor: pointer; transition: background .15s;
}
.switch input[role="switch"]::after {
  content: ""; position: absolute; top: 3px; left: 3px; width: calc(calc(1.3 * var(--u)) - 6px); aspect-ratio: 1;
  border-radius: 50%; background: var(--text); transition: transform .15s;
}
.switch input[role="switch"]:checked { background: var(--accent); }
.switch input[role="switch"]:checked::after { transform: translateX(calc(1 * var(--u))); background: var(--on-accent); }
.switch .help { flex-basis: 100%; }

.slider {
  --hue: 60; --chroma: 0;
  display: grid; grid-template-columns: calc(7 * var(--u)) minmax(0, 1fr) calc(2.6 * var(--u)) auto;
  align-items: center; gap: calc(.6 * var(--u)); padding: calc(.2 * var(--u)) 0;
}
.slider label { font-size: calc(.88 * var(--u)); }
.emotions .slider label { text-transform: capitalize; }
.slider output { font-variant-numeric: tabular-nums; font-size: calc(.8 * var(--u)); color: var(--muted); text-align: right; }
.face .slider, .mood .slider { grid-template-columns: calc(7 * var(--u)) minmax(0, 1fr) calc(2.6 * var(--u)); }

/* Range inputs drawn by hand so every hue gets the same contrast (accent-color varies by browser). */
.slider input[type="range"] {
  --fill: var(--accent);
  appearance: none; width: 100%; height: calc(1.4 * var(--u)); margin: 0; background: none; cursor: pointer;
}
.emotions .slider input[type="range"], .mood .slider input[type="range"] {
  --fill: oklch(.74 max(var(--chroma), .02) var(--hue));
}
.slider input[type="range"]::-webkit-slider-runnable-track {
  height: 4px; border-radius: 2px;
  background: linear-gradient(to right, var(--fill) var(--pct, 50%), var(--line) 0);
}
.slider input[type="range"]::-moz-range-track { height: 4px; border-radius: 2px; background: var(--line); }
.slider input[type="range"]::-moz-range-progress { height: 4px; border-radius: 2px; background: var(--fill); }
.slider input[type="range"]::-webkit-slider-thumb {
  appearance: none; width: 16px; height: 16px; margin-top: -6px; border-radius: 50%;
  background: var(--fill); border: 2px solid var(--panel);
}
.slider input[type="range"]::-moz-range-thumb {
  width: 14px; height: 14px; border-radius: 50%; background: var(--fill); border: 2px solid var(--panel);
}
.slider input[type="range"]:focus-visible { outline: none; }
.slider input[type="range"]:focus-visible::-webkit-slider-thumb { outline: 2px solid var(--accent); outline-offset: 2px; }
.slider input[type="range"]:focus-visible::-moz-range-thumb { outline: 2px solid var(--accent); outline-offset: 2px; }
.slider .show {
  padding: calc(.15 * var(--u)) calc(.6 * var(--u)); border-radius: 999px; cursor: pointer; font-size: calc(.78 * var(--u));
  background: oklch(var(--show-l) calc(var(--chroma) * .7) var(--hue));
  border: 1px solid oklch(.55 var(--chroma) var(--hue) / .6);
}
.slider .show:hover { background: oklch(var(--show-hover-l) calc(var(--chroma) * .8) var(--hue)); }

/* Fingers (any layout narrower than "wide"): larger targets. */
.frame:not([data-layout="wide"]) .slider { grid-template-columns: calc(7.4 * var(--u)) minmax(0, 1fr) calc(2.3 * var(--u)) auto; gap: calc(.45 * var(--u)); }
.frame:not([data-layout="wide"]) :is(.face, .mood) .slider { grid-template-columns: calc(7.4 * var(--u)) minmax(0, 1fr) calc(2.3 * var(--u)); }
.frame:not([data-layout="wide"]) .slider input[type="range"] { height: calc(2 * var(--u)); }
.frame:not([data-layout="wide"]) :is(.tools button, .group button:not(.show), .slider .show) { min-height: calc(2 * var(--u)); }
`;
