// <mien-avatar>, registered: import this module and the element works (Mien's page, development, tests).
// The class lives in avatar-element.js; the widget bundle (widget-entry.js) registers it itself, after setting
// the server it was loaded from as the default, so elements already on the page connect there.

import { CONNECTING, MienAvatar, OFFLINE } from "./avatar-element.js";

if (!customElements.get("mien-avatar")) customElements.define("mien-avatar", MienAvatar);

export { CONNECTING, MienAvatar, OFFLINE };
