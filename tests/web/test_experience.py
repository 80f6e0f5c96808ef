"""The page's experience features end to end (issue 8): controls generated from hello, changes on the face
within two frames, PAD-coloured chips, safe markdown, resume after a reload or reconnect, export and clear,
personas, presets, the composer, reduced motion, keyboard use, a phone. Debian's chromium against a real
Mien server with the scripted model; waits are on conditions, never fixed sleeps."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from animation.controls import CONTROLS, GAIN
from server.app import create_app
from server.runner import LiveServer
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI
from tests.web.browsing import (
    ARTIFACTS,
    AVATAR,
    SHADOW,
    WAIT_MS,
    events,
    open_page,
    wait_events,
    wait_ready,
    wait_reply_done,
    wait_weight,
)


def send(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")


# ---------------------------------------------------------------- controls from hello


def test_the_controls_panel_is_generated_from_hello(page: Page) -> None:
    hello = page.evaluate(f"{AVATAR}.hello")
    assert [c["name"] for c in hello["controls"]] == [c.name for c in CONTROLS]
    for control in hello["controls"]:
        widget = page.locator(f'#controls-body [data-control="{control["name"]}"]')
        expect(widget).to_have_count(1)
        # Labelled with the server's label, described by its description (screen readers and hover).
        expect(widget).to_have_accessible_name(control["label"])
        expect(widget).to_have_accessible_description(control["description"])
        switch = control["step"] == 1 and control["minimum"] == 0 and control["maximum"] == 1
        if switch:
            expect(widget).to_have_attribute("type", "checkbox")
            expect(widget).to_have_attribute("role", "switch")
            expect(widget).not_to_be_checked()
        else:
            expect(widget).to_have_attribute("type", "range")
            for attr, key in [("min", "minimum"), ("max", "maximum"), ("step", "step")]:
                assert float(widget.get_attribute(attr) or "nan") == control[key]
            # The session starts at the persona's value where hello gives one, else at the default.
            start = control["default"] if control.get("value") is None else control["value"]
            assert float(widget.input_value()) == start
            shown = str(round(start)) if control["step"] == 1 else f"{start:.2f}"
            expect(widget).to_have_attribute("aria-valuetext", f"{control['label']} {shown}")
    assert page.locator("#controls-body [data-control]").count() == len(hello["controls"])

    # Gain sliders take hello.gain's range; the mood selector offers every emotion.
    joy = page.get_by_label("joy gain")
    assert float(joy.get_attribute("max") or "nan") == GAIN.maximum
    options = page.locator('[data-mood="emotion"] option').evaluate_all("(os) => os.map((o) => o.value)")
    assert options == ["", *hello["emotions"]]

    # The switch and a stepped slider reach the element (and so the server) as typed values.
    page.get_by_role("switch", name="Mood lock").check()
    page.wait_for_function(
        f"{AVATAR}.controls.find((c) => c.name === 'mood_lock').value === 1", timeout=WAIT_MS
    )
    emotions = page.get_by_label("Maximum emotions")
    emotions.focus()
    emotions.press("ArrowRight")
    expect(emotions).to_have_value("4")
    expect(emotions).to_have_attribute("aria-valuetext", "Maximum emotions 4")
    page.wait_for_function(f"{AVATAR}.controls.find((c) => c.name === 'max_emotions').value === 4")
    assert not [e for e in events(page, "error")]

    # The panel collapses and opens again.
    summary = page.locator("#panel > summary")
    summary.click()
    expect(page.get_by_label("Maximum emotions")).to_be_hidden()
    summary.press("Enter")
    expect(page.get_by_label("Maximum emotions")).to_be_visible()


# ---------------------------------------------------------------- chat


# Each chip of a reply: its emotion, source, intensity and hover text, and its background as the page paints
# it (drawn on a canvas and read back as sRGB; alpha 0 for no fill).
CHIPS = """(cs) => {
  const ctx = new OffscreenCanvas(1, 1).getContext('2d', { willReadFrequently: true });
  return cs.map((c) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = getComputedStyle(c).backgroundColor;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, alpha] = ctx.getImageData(0, 0, 1, 1).data;
    return { text: c.textContent, source: c.dataset.source, intensity: Number(c.dataset.intensity),
             title: c.title, rgb: [r, g, b], alpha };
  });
}"""


def test_chips_are_coloured_by_meaning_and_show_source_and_confidence(
    page: Page, fake_llm: ScriptedOpenAI
) -> None:
    emotions = page.evaluate(f"{AVATAR}.emotions")  # every emotion the server names, tagged once at full
    line = " ".join(f"[{e}] Now {e}." for e in emotions) + " [sadness:0.4] A little sad."
    fake_llm.queue([{"content": line}])
    send(page, "I got the job!")  # the listening face answers with an empathy cue
    wait_reply_done(page, 1)
    chips = page.locator("#chat .msg.mien").last.locator(".chip").evaluate_all(CHIPS)
    tags = [c for c in chips if c["source"] == "tag"]
    assert [c["text"] for c in tags] == [*emotions, "sadness"]
    assert all(c["title"] == "tag · 100%" for c in tags)
    empathy = next(c for c in chips if c["source"] == "empathy")
    cue = next(e for e in events(page, "emotion") if e["source"] == "empathy")
    assert empathy["title"] == f"empathy · {round(cue['confidence'] * 100)}%"
    # Empathy chips are lighter: no filled background; the reply's own chips are filled.
    assert empathy["alpha"] == 0 and all(c["alpha"] > 0 for c in tags)

    colour = {c["text"]: c["rgb"] for c in tags if c["intensity"] == 1}
    (r, g, b), (sr, sg, sb) = colour["joy"], colour["sadness"]
    # Joy is warm, yellow (red and green over blue); sadness is cool, blue.
    assert min(r, g) > b + 40 and sb > max(sr, sg) + 40, colour
    # Anger reads red; neutral has no hue, a grey.
    ar, ag, ab = colour["anger"]
    assert ar > max(ag, ab) + 50, colour
    assert max(colour["neutral"]) - min(colour["neutral"]) <= 8, colour
    # Every emotion has a colour of its own, told apart at a glance.
    for (e1, c1), (e2, c2) in itertools.combinations(colour.items(), 2):
        assert max(abs(x - y) for x, y in zip(c1, c2, strict=True)) >= 12, (e1, c1, e2, c2)
    # A weaker cue is paler: the 0.4 sadness is still blue, with less colour than the full one.
    weak = next(c["rgb"] for c in tags if c["text"] == "sadness" and c["intensity"] < 1)
    assert weak[2] == max(weak)
    assert max(weak) - min(weak) < max(colour["sadness"]) - min(colour["sadness"]) - 10, (weak, colour)


XSS = (
    "Here is **bold**, *italic* and `x < y` code.\n\n"
    "- first item\n- second with [a link](https://example.org/docs)\n\n"
    "```\n<b>not bold</b>\n```\n\n"
    "Bad: <img src=x onerror=alert(1)> [x](javascript:alert(1)) <script>alert(2)</script> "
    '<a href="javascript:alert(3)">y</a>'
)


def test_replies_render_a_safe_markdown_subset_and_xss_stays_inert(
    page: Page, fake_llm: ScriptedOpenAI
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    fake_llm.queue([{"content": XSS[:40]}, {"content": XSS[40:]}])  # split mid-markup while streaming
    send(page, "Show me some formatting")
    wait_reply_done(page, 1)
    text = page.locator("#chat .msg.mien").last.locator(".text")

    expect(text.locator("strong")).to_have_text("bold")
    expect(text.locator("em")).to_have_text("italic")
    expect(text.locator("p code")).to_have_text("x < y")
    expect(text.locator("ul > li")).to_have_count(2)
    expect(text.locator("pre code")).to_have_text("<b>not bold</b>")
    link = text.locator("a")
    expect(link).to_have_count(1)  # only the https link; the javascript: ones stay text
    expect(link).to_have_text("a link")
    expect(link).to_have_attribute("href", "https://example.org/docs")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")

    # Inert: no element came from the reply's markup, no handler ran, the text shows literally.
    assert page.locator("#chat img, #chat script, #chat b, #chat [onerror]").count() == 0
    expect(text).to_contain_text("<img src=x onerror=alert(1)>")
    expect(text).to_contain_text("[x](javascript:alert(1))")
    expect(text).to_contain_text("<script>alert(2)</script>")
    expect(text).to_contain_text('<a href="javascript:alert(3)">y</a>')
    assert page.evaluate("document.querySelectorAll('script').length") == page.evaluate(
        "document.head.querySelectorAll('script').length"
    )
    assert dialogs == []


def test_the_composer_sends_on_enter_and_breaks_lines_on_shift_enter(
    page: Page, fake_llm: ScriptedOpenAI
) -> None:
    box = page.locator("#message")
    height = box.bounding_box()["height"]  # type: ignore[index]
    box.click()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    assert box.bounding_box()["height"] > height  # type: ignore[index]  # it grew
    assert events(page, "usermessage") == []
    page.keyboard.press("Enter")
    expect(page.locator("#chat .msg.user").last).to_have_text("first line\nsecond line")
    expect(box).to_have_value("")
    wait_reply_done(page, 1)


# ---------------------------------------------------------------- history


def test_a_reload_and_a_reconnect_resume_the_conversation(
    browser: Browser, mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    page = open_page(browser, mien.http_url)
    fake_llm.queue([{"content": "[joy] Nice to meet you, **Ada**!"}])
    send(page, "My name is Ada.")
    wait_reply_done(page, 1)
    session = page.evaluate(f"{AVATAR}.sessionId")
    assert session and page.evaluate(f"{AVATAR}.hello.resumed") is False
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))

    page.reload()
    wait_ready(page)
    assert page.evaluate(f"{AVATAR}.sessionId") == session
    assert page.evaluate(f"{AVATAR}.hello.resumed") is True
    (history,) = wait_events(page, "history", 1)
    assert history["reason"] == "resume"
    assert [(t["role"], t["content"]) for t in history["turns"]] == [
        ("user", "My name is Ada."),
        ("assistant", "Nice to meet you, **Ada**!"),
    ]
    restored = page.locator("#chat .msg.restored")
    expect(restored).to_have_count(2)
    expect(restored.nth(0)).to_have_text("My name is Ada.")
    expect(restored.nth(1).locator("strong")).to_have_text("Ada")  # rendered like a live reply
    expect(page.locator("#chat .note").first).to_contain_text("restored")

    # A reconnect (the same server, written differently) resumes the same session without repeating it.
    page.evaluate(f"{AVATAR}.setAttribute('server', {json.dumps(mien.http_url + '/')})")
    wait_events(page, "history", 2)
    assert page.evaluate(f"{AVATAR}.sessionId") == session
    expect(restored).to_have_count(2)
    expect(page.locator("#chat .note").last).to_contain_text("conversation continues")
    # The model sees the earlier turns.
    fake_llm.queue([{"content": "You are Ada."}])
    send(page, "Who am I?")
    wait_reply_done(page, 2)
    contents = [m["content"] for m in fake_llm.requests[-1]["messages"]]
    assert "My name is Ada." in contents
    # The id went in each socket's first message, never in its URL (access logs keep URLs).
    assert len(sockets) == 2 and all(url.endswith("resume=1") and session not in url for url in sockets)
    page.context.close()


def test_export_downloads_the_conversation_and_clear_forgets_it(page: Page, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "[joy] Hello!"}])
    send(page, "Hi there")
    wait_reply_done(page, 1)

    with page.expect_download() as download:
        page.get_by_role("button", name="Export").click()
    data = json.loads(download.value.path().read_text())
    assert data["session_id"] == page.evaluate(f"{AVATAR}.sessionId")
    assert data["persona"] == page.evaluate(f"{AVATAR}.persona.id")
    assert [(t["role"], t["content"], t["status"]) for t in data["turns"]] == [
        ("user", "Hi there", "complete"),
        ("assistant", "Hello!", "complete"),
    ]
    assert download.value.suggested_filename.endswith(".json")

    # Clear asks once more, then empties the log (and the server's store).
    clear = page.locator("#clear")
    clear.click()
    expect(clear).to_have_text("Clear? Click again")
    expect(page.locator("#chat .msg")).to_have_count(2)
    clear.click()
    expect(page.locator("#chat .msg")).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator("#chat .note")).to_have_text(["Conversation cleared."])
    assert [h["reason"] for h in events(page, "history")] == ["export", "clear"]
    assert page.evaluate(f"{AVATAR}.exportHistory()") == []


# ---------------------------------------------------------------- element API, personas, presets


def test_the_element_api_sets_controls_mood_and_resets(page: Page, fake_llm: ScriptedOpenAI) -> None:
    controls = page.evaluate(f"{AVATAR}.controls")
    starts = {
        c["name"]: c["value"] for c in page.evaluate(f"{AVATAR}.hello.controls") if c["value"] is not None
    }
    assert {c["name"]: c["value"] for c in controls} == {
        c.name: starts.get(c.name, c.default) for c in CONTROLS
    }
    assert page.evaluate(f"{AVATAR}.mood") is None
    assert page.evaluate(f"{AVATAR}.personas.length") >= 2

    # Mood: the resting face follows, and the panel mirrors values set through the API.
    page.evaluate(f"{AVATAR}.setMood('joy', 0.8)")
    wait_weight(page, "mouthSmileLeft", ">", 0.2)
    expect(page.locator('[data-mood="emotion"]')).to_have_value("joy")
    page.evaluate(f"{AVATAR}.setControl('contrast', 1.5)")
    expect(page.get_by_label("Emotion contrast")).to_have_value("1.5")
    page.evaluate(f"{AVATAR}.setGain('sadness', 0.5)")
    expect(page.get_by_label("sadness gain")).to_have_value("0.5")

    # Unknown or out-of-range values get typed errors, shown plainly, and are not kept.
    page.evaluate(f"{AVATAR}.setControl('sparkle', 1)")
    page.evaluate(f"{AVATAR}.setControl('max_emotions', 2.5)")
    errors = wait_events(page, "error", 2)
    assert [e["code"] for e in errors] == ["unknown_control", "out_of_range"]
    expect(page.locator("#errors")).to_contain_text("The server does not know that control.")
    expect(page.locator("#errors")).to_contain_text("unknown_control")
    assert page.evaluate(f"{AVATAR}.controls.find((c) => c.name === 'max_emotions').value") == 3

    fake_llm.queue([{"content": "Noted."}])
    send(page, "Remember this")
    wait_reply_done(page, 1)

    # reset(): the conversation cleared, every control back to its default, the mood gone.
    page.evaluate(f"{AVATAR}.reset()")
    wait_events(page, "history", 1)
    assert events(page, "history")[-1]["reason"] == "clear"
    assert page.evaluate(f"{AVATAR}.mood") is None
    assert page.evaluate(f"{AVATAR}.controls.find((c) => c.name === 'contrast').value") == 1
    assert page.evaluate(f"{AVATAR}.gains.sadness") == 1
    expect(page.get_by_label("Emotion contrast")).to_have_value("1")
    wait_weight(page, "mouthSmileLeft", "<", 0.05)
    assert page.evaluate(f"{AVATAR}.exportHistory()") == []


def test_the_page_reconnects_after_a_server_restart_and_resumes(
    browser: Browser, fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """The server goes away mid-conversation and comes back (same address, same store): the page retries on
    its own, resumes the session and shows the conversation again; nothing typed before is lost."""
    first = LiveServer(create_app(mien_settings(fake_llm, tmp_path), warm_up=False))
    port = first.port
    with first:
        page = open_page(browser, first.http_url)
        fake_llm.queue([{"content": "[joy] Hello, Ada!"}])
        send(page, "I'm Ada.")
        wait_reply_done(page, 1)
        session = page.evaluate(f"{AVATAR}.sessionId")
    (gone,) = wait_events(page, "disconnect", 1)
    assert gone["retrying"] is True
    with LiveServer(create_app(mien_settings(fake_llm, tmp_path), warm_up=False), port=port):
        (history,) = wait_events(page, "history", 1)
        assert history["reason"] == "resume"
        assert page.evaluate(f"{AVATAR}.sessionId") == session
        assert [(t["role"], t["content"]) for t in history["turns"]] == [
            ("user", "I'm Ada."),
            ("assistant", "Hello, Ada!"),
        ]
        expect(page.locator("#chat .msg.restored")).to_have_count(0)  # the live bubbles stay, not doubled
        expect(page.locator("#chat .msg")).to_have_count(2)
        fake_llm.queue([{"content": "Welcome back."}])
        send(page, "Still there?")
        wait_reply_done(page, 2)
        assert "I'm Ada." in [m["content"] for m in fake_llm.requests[-1]["messages"]]
    page.context.close()


def test_switching_persona_reconnects_greets_and_keeps_each_conversation(
    page: Page, fake_llm: ScriptedOpenAI
) -> None:
    first = page.evaluate(f"{AVATAR}.persona")
    first_session = page.evaluate(f"{AVATAR}.sessionId")
    expect(page.locator("#persona-name")).to_have_text(first["name"])
    fake_llm.queue([{"content": "Hello from the first."}])
    send(page, "Hi first")
    wait_reply_done(page, 1)
    page.evaluate(f"{AVATAR}.setGain('joy', 1.5)")  # the user's choices carry over

    other = next(p for p in page.evaluate(f"{AVATAR}.personas") if p["id"] != first["id"])
    page.get_by_label("Talk with").select_option(other["id"])
    page.wait_for_function(f"(id) => {AVATAR}.persona?.id === id", arg=other["id"], timeout=WAIT_MS)
    expect(page.locator("#persona-name")).to_have_text(other["name"])
    assert page.evaluate(f"{AVATAR}.sessionId") != first_session
    connect = events(page, "connect")[-1]
    assert (connect["reason"], connect["resumed"]) == ("persona", False)
    # The log now shows the new persona's conversation, opened by its greeting (no user bubble for it).
    expect(page.locator("#chat .msg.user")).to_have_count(0)
    greeting = events(page, "usermessage")[-1]
    assert (greeting["text"], greeting["greeting"]) == (other["greeting"], True)
    wait_reply_done(page, 1)
    assert page.evaluate(f"{AVATAR}.gains.joy") == 1.5
    expect(page.get_by_label("joy gain")).to_have_value("1.5")

    # Back to the first persona: its own conversation resumes.
    page.get_by_label("Talk with").select_option(first["id"])
    page.wait_for_function(f"(s) => {AVATAR}.sessionId === s", arg=first_session, timeout=WAIT_MS)
    expect(page.locator("#chat .msg.restored")).to_have_count(2)
    expect(page.locator("#chat .msg.user")).to_have_text(["Hi first"])


def test_presets_save_load_and_reset_to_defaults(page: Page) -> None:
    page.get_by_label("joy gain").fill("0.5")
    page.get_by_label("Emotion contrast").fill("1.5")
    page.get_by_label("Resting mood").select_option("sadness")
    page.get_by_label("Mood intensity").fill("0.4")
    page.get_by_role("switch", name="Mood lock").check()
    page.wait_for_function(f"{AVATAR}.mood?.intensity === 0.4")
    saved = page.evaluate(f"({{ controls: {AVATAR}.controls, gains: {AVATAR}.gains, mood: {AVATAR}.mood }})")

    page.get_by_label("Save as").fill("gloomy")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".preset-status")).to_have_text("Saved “gloomy”.")
    stored = json.loads(page.evaluate("localStorage.getItem('mien-presets')"))
    assert stored["gloomy"]["gains"]["joy"] == 0.5
    assert stored["gloomy"]["controls"]["mood_lock"] == 1
    assert stored["gloomy"]["mood"] == {"emotion": "sadness", "intensity": 0.4}

    page.get_by_role("button", name="Reset to defaults").click()
    expect(page.get_by_label("joy gain")).to_have_value("1")
    expect(page.get_by_label("Emotion contrast")).to_have_value("1")
    expect(page.get_by_role("switch", name="Mood lock")).not_to_be_checked()
    expect(page.get_by_label("Resting mood")).to_have_value("")
    assert page.evaluate(f"{AVATAR}.mood") is None

    page.get_by_label("Preset", exact=True).select_option("gloomy")
    page.get_by_role("button", name="Load").click()
    expect(page.get_by_label("joy gain")).to_have_value("0.5")
    expect(page.get_by_role("switch", name="Mood lock")).to_be_checked()
    expect(page.get_by_label("Resting mood")).to_have_value("sadness")
    now = page.evaluate(f"({{ controls: {AVATAR}.controls, gains: {AVATAR}.gains, mood: {AVATAR}.mood }})")
    assert now == saved
    assert not events(page, "error")


def test_an_embed_key_the_server_refuses_is_shown_plainly_and_not_retried(page: Page) -> None:
    send(page, "Hello")  # a conversation to come back to (a session is stored from its first turn)
    wait_reply_done(page, 1)
    page.evaluate(f"{AVATAR}.setAttribute('key', 'no-such-key')")
    (error,) = wait_events(page, "error", 1)
    assert (error["code"], error["source"]) == ("unknown_key", "server")
    disconnect = wait_events(page, "disconnect", 1)[-1]
    assert (disconnect["code"], disconnect["retrying"]) == (1008, False)
    expect(page.locator("#errors")).to_contain_text("The embed key is not known to this Mien server.")
    expect(page.locator("#state")).to_have_text("offline (refused by the server)")
    # Without the key (same origin) the page connects again, resuming its conversation.
    session = page.evaluate(f"{AVATAR}.sessionId")
    page.evaluate(f"{AVATAR}.removeAttribute('key')")
    connect = wait_events(page, "connect", 2)[-1]
    assert (connect["reason"], connect["resumed"], connect["hello"]["session_id"]) == ("key", True, session)
    expect(page.locator("#state")).to_have_attribute("data-state", "idle")


# ---------------------------------------------------------------- comfort and access


@pytest.fixture
def calm_page(browser: Browser, mien: LiveServer) -> Iterator[Page]:
    """Mien's page for a user who asked for reduced motion."""
    page = open_page(
        browser, mien.http_url, scripts=(), viewport={"width": 640, "height": 480}, reduced_motion="reduce"
    )
    yield page
    page.context.close()


def test_reduced_motion_damps_head_motion_and_stops_animations(calm_page: Page) -> None:
    page = calm_page
    assert page.evaluate(f"{AVATAR}.headMotion") == pytest.approx(0.3)
    read = f"""async () => {{
      const {{ liveFaces }} = await import('/web/face.js');
      const [face] = [...liveFaces];
      return {{ drawn: face.headTurn(), sent: {AVATAR}.head }};
    }}"""
    # Idle life turns the head: wait for a frame with a clear turn, then compare what is drawn with what came.
    page.wait_for_function(
        f"async () => {{ const r = await ({read})(); return Math.abs(r.sent.headYaw) > 0.004; }}"
    )
    now = page.evaluate(read)
    assert now["drawn"]["yaw"] == pytest.approx(0.3 * now["sent"]["headYaw"], abs=1e-6)
    assert now["drawn"]["pitch"] == pytest.approx(0.3 * now["sent"]["headPitch"], abs=1e-6)
    # CSS animations (the "thinking" pulse) and smooth scrolling are off.
    page.evaluate(f"{SHADOW}.querySelector('#state').dataset.state = 'thinking'")
    style = page.evaluate(
        f"""() => [getComputedStyle({SHADOW}.querySelector('#state'), '::before').animationName,
                  getComputedStyle({SHADOW}.querySelector('#chat')).scrollBehavior]"""
    )
    assert style == ["none", "auto"]


def test_keyboard_focus_is_visible_and_sliders_speak_their_values(page: Page) -> None:
    # Tab from the composer reaches the buttons; the focused one has a visible outline.
    page.locator("#message").focus()
    focus = """() => { const el = document.activeElement.shadowRoot?.activeElement ?? document.activeElement;
                       return [el.ariaLabel ?? el.textContent, getComputedStyle(el).outlineStyle]; }"""
    page.keyboard.press("Tab")
    assert page.evaluate(focus) == ["Talk", "solid"]  # the microphone, then Send
    page.keyboard.press("Tab")
    assert page.evaluate(focus) == ["Send", "solid"]
    gain = page.get_by_label("sadness gain")
    gain.focus()
    gain.press("ArrowLeft")
    expect(gain).to_have_attribute("aria-valuetext", "sadness 0.95")
    expect(gain).to_have_value("0.95")
    page.get_by_role("button", name="Show sadness").press("Enter")
    expect(page.locator("#chat .note.pose .chip")).to_have_text("sadness")


def test_the_page_on_a_phone(browser: Browser, mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    page = open_page(
        browser,
        mien.http_url,
        scripts=(),
        viewport={"width": 390, "height": 844},
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
    )
    # The face on top, the controls folded away at first, nothing wider than the screen.
    expect(page.locator("#panel")).not_to_have_attribute("open", "")
    fake_llm.queue([{"content": "[joy] Here are **two** things:\n\n1. one\n2. two"}])
    send(page, "Tell me two things")
    wait_reply_done(page, 1)
    page.wait_for_function("() => document.scrollingElement.scrollWidth <= 390", timeout=WAIT_MS)
    box = page.locator("mien-avatar").bounding_box()
    assert box is not None and box["width"] >= 380 and box["height"] >= 300
    expect(page.locator("#message")).to_be_in_viewport()
    page.locator("#panel > summary").tap()
    slider = page.get_by_label("joy gain")
    slider.scroll_into_view_if_needed()
    assert slider.bounding_box()["height"] >= 28  # type: ignore[index]  # a finger-sized target
    page.wait_for_function("() => document.scrollingElement.scrollWidth <= 390", timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=ARTIFACTS / "screenshot-phone-fresh.png")
    page.context.close()
