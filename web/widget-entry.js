// The one-script-tag widget: `make` bundles this file with the element and three.js into web/dist/widget.js
// (esbuild; three.js's licence comments kept), which the server serves at /widget.js with CORS. A host page
// then needs no import map:
//
//   <script type="module" src="https://HOST/widget.js"></script>
//   <mien-avatar server="https://HOST" key="KEY"></mien-avatar>
//
// Everything the element draws lives in its shadow DOM, out of reach of the page's selectors. Only the host
// element's own box is the page's: a blanket reset such as `* { all: unset }` beats the element's `:host`
// rules (the outer page wins ties with a shadow root), making it inline and unpositioned, so the face would
// lose its size and spill over the page. So the `:host` rules are mirrored into the page as
// `:where(mien-avatar…)`: the same specificity as `*` (zero) but later in the cascade (adopted sheets follow
// the page's own), so they beat universal resets while any rule naming the element or a class still wins.

import { TEMPLATE } from "./avatar-view.js";
import { MienAvatar } from "./avatar-element.js";

const HOST = /^:host(?:\((.+)\))?$/; // `:host` or `:host(compound)`, nothing after it

/** The element's `:host` rules, rewritten for the page: `:host([hidden])` -> `:where(mien-avatar[hidden])`. */
function mirroredHostRules() {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync([...TEMPLATE.content.querySelectorAll("style")].map((s) => s.textContent).join("\n"));
  const rules = [];
  for (const rule of sheet.cssRules) {
    if (!(rule instanceof CSSStyleRule)) continue;
    const selectors = rule.selectorText.split(",").map((s) => s.trim().match(HOST));
    if (selectors.some((m) => !m)) continue; // a rule for the shadow's insides stays there
    const page = selectors.map((m) => `mien-avatar${m[1] ?? ""}`).join(", ");
    rules.push(`:where(${page}) { ${rule.style.cssText} }`);
  }
  return rules.join("\n");
}

try {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(mirroredHostRules());
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
} catch {
  // No constructable style sheets (older browsers): the element works, only universal resets can reach it.
}

// Without a `server` attribute the widget talks to the server it was loaded from, not the host page's origin.
// Set before the element is defined: defining upgrades the elements already on the page, which connect at once.
MienAvatar.defaultServer = new URL(".", import.meta.url).href;
if (!customElements.get("mien-avatar")) customElements.define("mien-avatar", MienAvatar);
