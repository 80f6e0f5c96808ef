"""Gesture chips in the browser's chat: a `gesture` message shows as its own chip (a distinct look) at its
offset, next to the emotion chips, and the face moves with it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.browsing import AVATAR, WAIT_MS, events


def test_gestures_show_as_chips_at_their_offsets(page: Page) -> None:
    page.evaluate(f"{AVATAR}.speak('[nod] Sure, [joy] [tilt] why not.')")
    reply = page.locator("#chat .msg.mien").last
    expect(reply).to_have_attribute("data-done", "complete", timeout=WAIT_MS)
    flat = reply.locator(".text").evaluate(
        """(p) => {
          const walk = (n) => n.nodeType === Node.TEXT_NODE ? n.textContent
            : n.classList?.contains("gesture") ? `{${n.textContent}}`
            : n.classList?.contains("chip") ? `[${n.textContent}]`
            : [...n.childNodes].map(walk).join("");
          return walk(p);
        }"""
    )
    assert flat.replace(" ", "") == "{nod}Sure,[joy]{tilt}whynot."
    gesture = reply.locator(".chip.gesture").first
    expect(gesture).to_have_text("nod")
    # Distinct from an emotion chip: not the emotion's colours, and says it is a gesture on hover.
    assert gesture.get_attribute("title") == "gesture · tag"
    styles = reply.locator(".chip").evaluate_all(
        "(cs) => cs.map((c) => getComputedStyle(c).borderTopLeftRadius)"
    )
    assert styles[0] != styles[1]
    got = [(e["gesture"], e["offset"]) for e in events(page, "gesture")]
    assert got == [("nod", 0), ("tilt", len("Sure, "))]
