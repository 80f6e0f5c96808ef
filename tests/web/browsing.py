"""Shared by the browser tests: Debian's chromium and its flags, pages opened with the event recorder injected
before their own scripts (and their errors collected), waits on conditions (never fixed sleeps), a static
site on another origin, and Mien with embed keys."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Frame, Page, expect

from bench.render import CHROMIUM, CHROMIUM_ARGS
from tests.fakes.openai_server import ScriptedOpenAI

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
WAIT_MS = 20_000
READY_MS = 30_000  # the head (a 3.6 MB GLB) loads and is bound first
AVATAR = "document.querySelector('mien-avatar')"
SHADOW = f"{AVATAR}.shadowRoot"  # the element's built-in chat and controls live in its shadow DOM
VIEWPORT = {"width": 960, "height": 600}  # modest: software WebGL renders every frame on the CPU
# Playwright's launch options for Debian's chromium (the one definition of both is bench.render's).
LAUNCH: dict[str, Any] = {"executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}

# Records every event <mien-avatar> dispatches, from before the page's own scripts run, and the peak of
# every blendshape over the frames shown (expressions are transient: a cue rises, holds, decays). Its
# animation-frame callback runs before the element's own in every frame (it was requested first): a test
# may set `window.__mien.beforeDraw` to note something at the start of each frame.
RECORDER = """
window.__mien = { events: [], peak: {}, beforeDraw: null };
const trackPeaks = () => {
  window.__mien.beforeDraw?.();
  const avatar = document.querySelector("mien-avatar");
  for (const [name, w] of Object.entries(avatar?.blendshapes ?? {})) {
    window.__mien.peak[name] = Math.max(window.__mien.peak[name] ?? 0, w);
  }
  requestAnimationFrame(trackPeaks);
};
requestAnimationFrame(trackPeaks);
for (const type of ["ready", "connect", "disconnect", "state", "reply", "text", "emotion", "gesture",
                    "replyend", "error", "usermessage", "history", "settings"]) {
  document.addEventListener(type, (e) => {
    if (e.target?.localName === "mien-avatar") window.__mien.events.push({ type, detail: e.detail });
  }, true);
}
"""


def events(where: Page | Frame, type_: str) -> list[dict[str, Any]]:
    script = "(t) => window.__mien.events.filter((e) => e.type === t).map((e) => e.detail)"
    return where.evaluate(script, type_)


def wait_until(where: Page | Frame, predicate: str, arg: Any = None, timeout_ms: int = WAIT_MS) -> None:
    """Wait until the JS function `predicate(arg)` holds, checked every animation frame. Written into the
    evaluated function rather than eval'd (as Playwright's wait_for_function does), so it works under a
    page's CSP too (/embed's)."""
    where.evaluate(
        f"""async ([arg, ms]) => {{
            const ok = {predicate};
            const until = performance.now() + ms;
            while (!(await ok(arg))) {{
                if (performance.now() > until) throw new Error(`timed out waiting for ${{ok}}`);
                await new Promise((resolve) => requestAnimationFrame(resolve));
            }}
        }}""",
        [arg, timeout_ms],
    )


def wait_events(where: Page | Frame, type_: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait until at least `count` events of this type were recorded; returns them all."""
    wait_until(
        where, "([t, n]) => window.__mien.events.filter((e) => e.type === t).length >= n", [type_, count]
    )
    return events(where, type_)


def wait_weight(page: Page, name: str, op: str, value: float) -> None:
    """Wait until the blendshape shown satisfies `op value`."""
    wait_until(page, f"([n, v]) => {AVATAR}.blendshapes[n] {op} v", [name, value])


def reset_peaks(where: Page | Frame) -> None:
    where.evaluate("window.__mien.peak = {}")


def wait_peak(where: Page | Frame, name: str, above: float) -> None:
    """Wait until the blendshape has been shown above `above` since the last reset_peaks."""
    wait_until(where, "([n, v]) => window.__mien.peak[n] > v", [name, above])


def wait_ready(where: Page | Frame) -> None:
    """The element is ready (hello, head loaded) and has shown its first frame (so `blendshapes` are real)."""
    wait_until(where, f"() => {AVATAR}?.isReady === true && {AVATAR}.frameSeq >= 0", timeout_ms=READY_MS)


def wait_frames(page: Page, count: int) -> None:
    """Wait until the face has shown `count` more of the server's frames than now (by sequence number)."""
    seq = page.evaluate(f"{AVATAR}.frameSeq")
    wait_until(page, f"(s) => {AVATAR}.frameSeq >= s", seq + count)


def wait_reply_done(page: Page, count: int) -> None:
    """Wait until the built-in chat shows `count` finished replies."""
    expect(page.locator("#chat .msg.mien[data-done]")).to_have_count(count, timeout=WAIT_MS)


def new_page(
    browser: Browser,
    *,
    scripts: Sequence[str] = (RECORDER,),
    errors: list[str] | None = None,
    **context: Any,
) -> Page:
    """A page in a context of its own (`context`: Playwright's options, VIEWPORT unless a viewport is given)
    with `scripts` added before any page's own; uncaught errors and console errors (a failed request logs
    one) appended to `errors` when given. Close it with `page.context.close()`."""
    page = browser.new_context(**{"viewport": VIEWPORT, **context}).new_page()
    if errors is not None:
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    for script in scripts:
        page.add_init_script(script)
    return page


def open_page(browser: Browser, url: str, *, ready: bool = True, **options: Any) -> Page:
    """new_page(browser, **options) at `url`, and (unless `ready` is False) its element ready."""
    page = new_page(browser, **options)
    page.goto(url)
    if ready:
        wait_ready(page)
    return page


class StaticSite:
    """Another origin: a plain static server on a port of its own, serving the pages a test writes."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body if body is not None else "not found").encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, path: str, html: str) -> str:
        """Serve `html` at `path` (from now on); returns its URL."""
        self.pages[path] = html
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def app_with_keys(fake_llm: ScriptedOpenAI, data_dir: Path, keys: str, *, store: bool = True) -> Any:
    """Mien's app, its model the scripted server, with the embed keys `keys` (keys.toml's text, written
    into `data_dir`); conversations stored in `data_dir` (or, with `store` False, in memory)."""
    from server.app import create_app
    from tests.fakes.mien import mien_settings

    path = data_dir / "keys.toml"
    path.write_text(keys)
    settings = mien_settings(fake_llm, data_dir if store else None, embed_keys=str(path))
    return create_app(settings, warm_up=False)


# Chromium's autoplay policy is a heuristic (user activation, media engagement, ...), so whether an
# AudioContext starts before any gesture can differ between runs. Tests about the element's answer to a
# browser that blocks audio use this rule instead, added before the page's scripts: a context runs only
# when created or resumed with user activation (navigator.userActivation), as Chrome's documented policy says.
AUTOPLAY_RULE = """(() => {
  const Original = window.AudioContext;
  if (!Original) return;
  window.AudioContext = class extends Original {
    constructor(options) {
      super(options);
      this.__blocked = !navigator.userActivation.isActive;
      if (this.__blocked) super.suspend();
    }
    get state() { return this.__blocked ? 'suspended' : super.state; }
    resume() {
      if (!navigator.userActivation.isActive) {
        return Promise.reject(new DOMException('not allowed to start', 'NotAllowedError'));
      }
      this.__blocked = false;
      return super.resume();
    }
  };
})();"""
