"""The browser client end to end: Debian's chromium (headless, SwiftShader WebGL) against a real Mien server
whose model is the scripted OpenAI-compatible fake. Waits are on conditions, never fixed sleeps."""

from __future__ import annotations

import random

import numpy as np
from playwright.sync_api import Page, expect

from animation.arkit import N_BLENDSHAPES, N_CHANNELS
from server.protocol import FRAME_FORMAT
from server.protocol.frames import dequantize, encode_frame, quantize
from tests.fakes.openai_server import ScriptedOpenAI
from tests.web.browsing import (
    ARTIFACTS,
    AVATAR,
    SHADOW,
    WAIT_MS,
    events,
    reset_peaks,
    wait_frames,
    wait_peak,
    wait_weight,
)

# ---------------------------------------------------------------- conversation


def test_conversation_streams_into_the_chat_with_emotion_chips_and_moves_the_face(
    page: Page, fake_llm: ScriptedOpenAI
) -> None:
    fake_llm.queue([{"content": "[joy] Great"}, {"content": " news!"}])
    assert page.evaluate("window.__mien.peak.mouthSmileLeft") < 0.05

    page.fill("#message", "I got the job!")
    page.press("#message", "Enter")

    expect(page.locator("#chat .msg.user").last).to_have_text("I got the job!")
    reply = page.locator("#chat .msg.mien").last
    expect(reply).to_contain_text("Great news!", timeout=WAIT_MS)
    # The chip sits at the cue's offset: before the text it colours.
    expect(reply.locator(".chip").first).to_have_text("joy")
    assert reply.locator(".text").evaluate("(p) => p.firstElementChild.className") == "chip"
    wait_peak(page, "mouthSmileLeft", 0.3)
    expect(reply).to_have_attribute("data-done", "complete", timeout=WAIT_MS)

    texts = events(page, "text")
    assert "".join(t["delta"] for t in texts).startswith("Great news!")
    assert texts[0]["offset"] == 0
    cue = next(e for e in events(page, "emotion") if e["source"] != "empathy")
    assert (cue["emotion"], cue["source"], cue["offset"], cue["replyId"]) == ("joy", "tag", 0, 1)
    states = [s["state"] for s in events(page, "state")]
    assert "thinking" in states and "speaking" in states
    expect(page.locator("#state")).to_have_attribute("data-state", "idle")
    expect(page.locator("#stop")).to_be_hidden()

    # A scripted line with a cue mid-text: each chip lands at its own offset.
    page.evaluate(f"{AVATAR}.speak('[sadness] Oh no. [surprise] Really?')")
    expect(page.locator("#chat .msg.script").last).to_have_text("[sadness] Oh no. [surprise] Really?")
    scripted = page.locator("#chat .msg.mien").last
    expect(scripted).to_have_attribute("data-done", "complete", timeout=WAIT_MS)
    parts = scripted.locator(".text").evaluate(
        "(p) => [...p.childNodes]"
        ".map((n) => (n.classList?.contains('chip') ? `[${n.textContent}]` : n.textContent))"
    )
    # With the emotions' chips, the head's: "Oh no." shakes at "no", the question tilts (inferred, untagged).
    assert "".join(parts).replace(" ", "") == "[sadness]Oh[shake]no.[surprise][tilt]Really?"

    # A reply in progress shows the stop button; stopping keeps the partial text, marked interrupted.
    fake_llm.queue([{"content": "[thinking] Let me see"}, {"hold": True}])
    page.fill("#message", "What's 6 times 7?")
    page.press("#message", "Enter")
    held = page.locator("#chat .msg.mien").last
    expect(held).to_contain_text("Let me see", timeout=WAIT_MS)
    page.get_by_role("button", name="Stop").click()
    expect(held).to_have_attribute("data-done", "interrupted", timeout=WAIT_MS)
    expect(held).to_have_attribute("data-label", "interrupted")  # shown under the bubble
    expect(page.locator("#stop")).to_be_hidden()

    # The artifact: the page mid-smile, at a laptop's size.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.evaluate(f"{AVATAR}.setEmotion('joy', 0.8, 10)")
    wait_weight(page, "mouthSmileLeft", ">", 0.5)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "screenshot.png")

    # On a phone: the face on top, no horizontal scrolling, the composer reachable.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("() => document.scrollingElement.scrollWidth <= 390", timeout=WAIT_MS)
    box = page.locator("mien-avatar").bounding_box()
    assert box is not None and box["width"] >= 380 and box["height"] >= 300
    expect(page.locator("#message")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "screenshot-phone.png", full_page=True)


# ---------------------------------------------------------------- controls


def test_controls_from_hello_steer_the_face(page: Page) -> None:
    emotions = page.evaluate(f"{AVATAR}.emotions")
    assert "joy" in emotions
    # One gain slider (at 1) and one show button per emotion the server named, plus expressiveness.
    controls = page.evaluate(
        f"""() => [...{SHADOW}.querySelectorAll('#controls-body input[data-emotion]')].map((i) =>
              [i.dataset.emotion, i.value, i.labels[0].textContent,
               {SHADOW}.querySelector(`button[data-emotion="${{i.dataset.emotion}}"]`).getAttribute('aria-label')])"""
    )
    assert controls == [[e, "1", e, f"Show {e}"] for e in emotions]
    # Expressiveness starts at the persona's value (hello's `value`), Mien's own being 0.9.
    start = next(
        c["value"] for c in page.evaluate(f"{AVATAR}.hello.controls") if c["name"] == "expressiveness"
    )
    expect(page.get_by_label("Expressiveness")).to_have_value(f"{start:g}")

    page.evaluate(f"{AVATAR}.setEmotion('joy', 0.8, 30)")  # held for 30 s: only the gain can remove it
    wait_weight(page, "mouthSmileLeft", ">", 0.3)
    user_cue = events(page, "emotion")[-1]
    assert (user_cue["emotion"], user_cue["source"], user_cue["replyId"]) == ("joy", "user", None)

    # The real slider, by keyboard: Home takes it to 0 (suppress) and fires an input event.
    slider = page.get_by_label("joy gain")
    slider.focus()
    slider.press("Home")
    expect(slider).to_have_value("0")
    wait_weight(page, "mouthSmileLeft", "<", 0.02)

    # Gain back to 1, then the "show" button poses joy again.
    reset_peaks(page)
    slider.fill("1")
    page.get_by_role("button", name="Show joy").click()
    wait_peak(page, "mouthSmileLeft", 0.5)

    # Expressiveness 0 is deadpan: the held smile goes.
    page.get_by_label("Expressiveness").fill("0")
    wait_weight(page, "mouthSmileLeft", "<", 0.02)


def test_bad_input_gets_typed_errors_and_leaves_the_face_alone(page: Page) -> None:
    reset_peaks(page)
    page.evaluate(
        f"""() => {{
          const a = {AVATAR};
          a.setEmotion('joy', NaN);
          a.setEmotion('joy', -1);
          a.setEmotion('joy', 5);
          a.setEmotion('nope', 0.5);
          a.setGain('joy', 3);
          a.setExpressiveness(-0.5);
        }}"""
    )
    page.wait_for_function(
        "() => window.__mien.events.filter((e) => e.type === 'error').length >= 6", timeout=WAIT_MS
    )
    errors = events(page, "error")
    assert [e["code"] for e in errors] == [
        "out_of_range",
        "out_of_range",
        "out_of_range",
        "unknown_emotion",
        "out_of_range",
        "out_of_range",
    ]
    assert errors[0]["source"] == "client"  # NaN cannot travel as JSON: refused before sending
    assert all(e["source"] == "server" for e in errors[1:])
    expect(page.locator("#errors li")).to_have_count(3)  # the page shows the latest few
    expect(page.locator("#errors")).to_contain_text("unknown_emotion")

    # Give the server time to have acted on them (15 more frames shown): nothing moved but idle life,
    # whose blinks only touch the eyes.
    wait_frames(page, 15)
    peaks = page.evaluate("window.__mien.peak")
    assert max(w for name, w in peaks.items() if not name.startswith("eye")) < 0.02
    assert not any(e["source"] == "user" for e in events(page, "emotion"))

    # The session is alive: a valid request still works.
    page.evaluate(f"{AVATAR}.setEmotion('joy', 0.8)")
    wait_peak(page, "mouthSmileLeft", 0.3)


# ---------------------------------------------------------------- wire decoding


def test_frame_decoder_matches_the_server_encoder(module_page: Page) -> None:
    """Random delta-encoded frames from server.protocol decode to the same channels in the browser."""
    rng = random.Random(7)
    n_blend, n = N_BLENDSHAPES, N_CHANNELS
    previous = np.zeros(n, dtype=np.int32)
    frames, expected = [], []
    for seq in range(40):
        channels = dequantize(previous)
        for i in rng.sample(range(n), rng.randint(0, n)):
            channels[i] = rng.random() if i < n_blend else rng.uniform(-0.6, 0.6)
        q = quantize(channels)
        frames.append(list(encode_frame(seq, seq * 33, q, previous)))
        expected.append(q.tolist())
        previous = q
    decoded = module_page.evaluate(
        """async ([frames, n, nBlend, format]) => {
          const { decodeFrame } = await import('/web/protocol.js');
          const state = new Int32Array(n);
          return frames.map((bytes) => {
            const header = decodeFrame(new Uint8Array(bytes).buffer, state, format, nBlend);
            return [header.seq, header.tMs, Array.from(state)];
          });
        }""",
        [frames, n, n_blend, FRAME_FORMAT.model_dump()],
    )
    for seq, (got_seq, got_t, got) in enumerate(decoded):
        assert (got_seq, got_t) == (seq, seq * 33)
        assert got == expected[seq]
    # A frame whose body does not match its mask is refused and leaves the state alone.
    truncated = list(encode_frame(1, 0, np.ones(n, dtype=np.int32), np.zeros(n, dtype=np.int32))[:-1])
    refused = module_page.evaluate(
        """async ([bytes, n, nBlend, format]) => {
          const { decodeFrame } = await import('/web/protocol.js');
          const state = new Int32Array(n).fill(9);
          try { decodeFrame(new Uint8Array(bytes).buffer, state, format, nBlend); return 'decoded'; }
          catch { return state.every((v) => v === 9) ? 'refused' : 'corrupted'; }
        }""",
        [truncated, n, n_blend, FRAME_FORMAT.model_dump()],
    )
    assert refused == "refused"


def test_server_urls_are_derived_from_the_attribute(module_page: Page) -> None:
    got = module_page.evaluate(
        """async () => {
          const { socketUrl, httpBase } = await import('/web/protocol.js');
          const here = 'https://example.org/chat/page.html';
          return [socketUrl('', here), socketUrl('http://h:8000', here), socketUrl('https://h/mien/', here),
                  socketUrl('ws://h:1/ws', here), httpBase('', here), httpBase('wss://h/mien/ws', here)];
        }"""
    )
    assert got == [
        "wss://example.org/ws",
        "ws://h:8000/ws",
        "wss://h/mien/ws",
        "ws://h:1/ws",
        "https://example.org/",
        "https://h/mien/",
    ]
