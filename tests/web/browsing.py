"""Shared by the browser tests: Debian's chromium and its flags, the event recorder injected before the page's
own scripts, and waits on conditions (never fixed sleeps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from bench.render import CHROMIUM, CHROMIUM_ARGS  # noqa: F401  (the one definition; tests import them here)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
WAIT_MS = 20_000
AVATAR = "document.querySelector('mien-avatar')"

# Records every event <mien-avatar> dispatches, from before the page's own scripts run, and the peak of
# every blendshape over the frames shown (expressions are transient: a cue rises, holds, decays).
RECORDER = """
window.__mien = { events: [], peak: {} };
const trackPeaks = () => {
  const avatar = document.querySelector("mien-avatar");
  for (const [name, w] of Object.entries(avatar?.blendshapes ?? {})) {
    window.__mien.peak[name] = Math.max(window.__mien.peak[name] ?? 0, w);
  }
  requestAnimationFrame(trackPeaks);
};
requestAnimationFrame(trackPeaks);
for (const type of ["ready", "connect", "disconnect", "state", "reply", "text", "emotion", "replyend",
                    "error", "usermessage", "history", "settings"]) {
  document.addEventListener(type, (e) => {
    if (e.target?.localName === "mien-avatar") window.__mien.events.push({ type, detail: e.detail });
  }, true);
}
"""


def events(page: Page, type_: str) -> list[dict[str, Any]]:
    script = "(t) => window.__mien.events.filter((e) => e.type === t).map((e) => e.detail)"
    return page.evaluate(script, type_)


def wait_events(page: Page, type_: str, count: int) -> list[dict[str, Any]]:
    """Wait until at least `count` events of this type were recorded; returns them all."""
    page.wait_for_function(
        "([t, n]) => window.__mien.events.filter((e) => e.type === t).length >= n",
        arg=[type_, count],
        timeout=WAIT_MS,
    )
    return events(page, type_)


def wait_weight(page: Page, name: str, op: str, value: float) -> None:
    """Wait until the blendshape shown satisfies `op value`."""
    page.wait_for_function(f"([n, v]) => {AVATAR}.blendshapes[n] {op} v", arg=[name, value], timeout=WAIT_MS)


def reset_peaks(page: Page) -> None:
    page.evaluate("window.__mien.peak = {}")


def wait_peak(page: Page, name: str, above: float) -> None:
    """Wait until the blendshape has been shown above `above` since the last reset_peaks."""
    page.wait_for_function("([n, v]) => window.__mien.peak[n] > v", arg=[name, above], timeout=WAIT_MS)


def wait_ready(page: Page) -> None:
    """The element is ready (hello, head loaded) and has shown its first frame (so `blendshapes` are real)."""
    page.wait_for_function(f"{AVATAR}?.isReady === true && {AVATAR}.frameSeq >= 0", timeout=30_000)


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
