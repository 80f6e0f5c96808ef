"""<mien-avatar> on a page of its own, as an embedder uses it: the built-in chat (on by default), the
`controls`, `theme` and `voice` attributes, `reset()`, chips restored after a reload, the spoken word
underlined in a markdown reply, hostile host CSS, and a phone. Debian's chromium against a real Mien server
whose model is the scripted fake; waits are on conditions, never fixed sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from server.runner import LiveServer
from tests.fakes.openai_server import ScriptedOpenAI
from tests.web.browsing import (
    ARTIFACTS,
    AUTOPLAY_RULE,
    AVATAR,
    RECORDER,
    SHADOW,
    WAIT_MS,
    StaticSite,
    app_with_keys,
    events,
    open_page,
    reset_peaks,
    wait_events,
    wait_peak,
    wait_ready,
    wait_reply_done,
    wait_weight,
)

IMPORTS = {"three": "/vendor/three/build/three.module.js", "three/addons/": "/vendor/three/examples/jsm/"}

Open = Callable[..., Page]


@pytest.fixture
def site() -> Iterator[StaticSite]:
    """A site of its own, on another origin."""
    s = StaticSite()
    yield s
    s.close()


@pytest.fixture
def mien(fake_llm: ScriptedOpenAI, tmp_path: Path, site: StaticSite) -> Iterator[LiveServer]:
    """Mien with an embed key (`site`) for the site's origin."""
    keys = f'[keys.site]\norigins = ["{site.origin}"]\nmessages_per_minute = 100\nallow_speak = true\n'
    with LiveServer(app_with_keys(fake_llm, tmp_path, keys)) as server:
        yield server


@pytest.fixture
def standalone(browser: Browser, mien: LiveServer, site: StaticSite) -> Iterator[Open]:
    """open(attributes, style, css="", **context options): the site's page holding the import map, the
    element's module (from the Mien server) and `<mien-avatar server=… key=site {attributes}>`, ready; fails
    the test on any page or console error."""
    pages: list[Page] = []
    errors: list[str] = []

    def open_(
        attributes: str = "",
        style: str = "width: 900px; height: 560px",
        css: str = "",
        ready: bool = True,
        autoplay_rule: bool = False,
        **options: Any,
    ) -> Page:
        imports = {name: mien.http_url + path for name, path in IMPORTS.items()}
        url = site.serve(
            "/page.html",
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f'<script type="importmap">{json.dumps({"imports": imports})}</script>'
            f'<script type="module" src="{mien.http_url}/web/mien-avatar.js"></script><style>{css}</style>'
            f'</head><body><main><mien-avatar server="{mien.http_url}" key="site" {attributes} '
            f'style="{style}"></mien-avatar></main></body></html>',
        )
        scripts = (RECORDER, AUTOPLAY_RULE) if autoplay_rule else (RECORDER,)
        # (page.evaluate counts as a user gesture: waiting for `ready` with it lets audio start)
        pages.append(open_page(browser, url, ready=ready, scripts=scripts, errors=errors, **options))
        return pages[-1]

    yield open_
    for page in pages:
        page.context.close()
    assert errors == []


def in_shadow(page: Page, script: str) -> Any:
    """Evaluate `script` (an expression of `root`, the element's shadow root)."""
    return page.evaluate(f"(() => {{ const root = {SHADOW}; return {script}; }})()")


# ---------------------------------------------------------------- the built-in chat


def test_the_built_in_chat_of_a_standalone_element(standalone: Open, fake_llm: ScriptedOpenAI) -> None:
    page = standalone()
    assert page.evaluate(f"{AVATAR}.getAttribute('chat')") is None  # on by default
    expect(page.locator("#state")).to_have_attribute("data-state", "idle")
    expect(page.locator("#panel")).to_be_hidden()  # no `controls` attribute: no controls
    assert in_shadow(page, "root.querySelector('.frame').dataset.layout") == "wide"

    fake_llm.queue([{"content": "[joy] Great"}, {"content": " news!"}])
    page.locator("#message").fill("I got the job!")
    page.locator("#message").press("Enter")
    expect(page.locator("#chat .msg.user")).to_have_text(["I got the job!"])
    reply = page.locator("#chat .msg.mien").last
    expect(reply).to_contain_text("Great news!", timeout=WAIT_MS)
    expect(reply.locator(".chip[data-source='tag']")).to_have_text("joy")
    expect(reply.locator(".chip[data-source='tag']")).to_have_attribute("title", "tag · 100%")
    expect(reply).to_have_attribute("data-done", "complete", timeout=WAIT_MS)
    expect(page.locator("#message")).to_have_value("")
    assert "".join(t["delta"] for t in events(page, "text")) == "Great news!"

    # A held reply shows Stop; a click stops it, the partial text kept and marked.
    fake_llm.queue([{"content": "[thinking] Let me see"}, {"hold": True}])
    page.locator("#message").fill("And then?")
    page.get_by_role("button", name="Send").click()
    held = page.locator("#chat .msg.mien").last
    expect(held).to_contain_text("Let me see", timeout=WAIT_MS)
    page.get_by_role("button", name="Stop").click()
    expect(held).to_have_attribute("data-done", "interrupted", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    # Stop focused when the reply ends: it hides, and the focus goes on in the textarea (not to <body>).
    fake_llm.queue([{"content": "Fine"}, {"hold": True}])
    page.locator("#message").fill("Go on")
    page.locator("#message").press("Enter")
    expect(page.locator("#chat .msg.mien").last).to_contain_text("Fine", timeout=WAIT_MS)
    page.get_by_role("button", name="Stop").focus()
    fake_llm.release()
    expect(page.locator("#chat .msg.mien").last).to_have_attribute("data-done", "complete", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    expect(page.locator("#message")).to_be_focused()
    # The state pill is no live region: "thinking… / ready" on every reply would talk over the chat log.
    assert in_shadow(page, "root.querySelector('#state').hasAttribute('aria-live')") is False
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "element-standalone.png")

    # chat="off": the face alone, as before; the API still works.
    page.evaluate(f"{AVATAR}.setAttribute('chat', 'off')")
    expect(page.locator("#chat")).to_be_hidden()
    expect(page.locator("#message")).to_be_hidden()
    assert page.locator("mien-avatar canvas").bounding_box()["width"] == pytest.approx(900, abs=1)  # type: ignore[index]


# ---------------------------------------------------------------- controls, theme, hostile CSS


def test_the_controls_attribute_shows_controls_that_move_the_face(standalone: Open) -> None:
    page = standalone("controls")
    summary = page.locator("#panel > summary")
    expect(summary).to_have_text("Expression")
    expect(page.get_by_label("Lower face")).to_be_hidden()  # `controls` (not "open"): folded at first
    summary.click()
    lower = page.get_by_label("Lower face")
    expect(lower).to_be_visible()

    page.get_by_role("button", name="Show joy").click()
    wait_weight(page, "mouthSmileLeft", ">", 0.3)
    page.evaluate(f"{AVATAR}.setEmotion('joy', 1, 30)")  # held: only the controls can take it away
    # The lower face at 0: the smile (a lower-face shape) goes; back at 1 it returns.
    lower.fill("0")
    wait_weight(page, "mouthSmileLeft", "<", 0.05)
    assert page.evaluate(f"{AVATAR}.controls.find((c) => c.name === 'lower_face').value") == 0
    lower.fill("1")
    wait_weight(page, "mouthSmileLeft", ">", 0.3)
    # The joy gain at 0 suppresses it; at 2 it is stronger than at 1.
    smile = page.evaluate(f"{AVATAR}.blendshapes.mouthSmileLeft")
    page.get_by_label("joy gain").fill("0")
    wait_weight(page, "mouthSmileLeft", "<", 0.02)
    page.get_by_label("joy gain").fill("2")
    wait_weight(page, "mouthSmileLeft", ">", smile + 0.05)

    # Presets live in the drawer too: save, reset, load.
    page.get_by_label("Save as").fill("big smile")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Reset to defaults").click()
    expect(page.get_by_label("joy gain")).to_have_value("1")
    page.get_by_role("button", name="Load").click()
    expect(page.get_by_label("joy gain")).to_have_value("2")

    page.evaluate(f"{AVATAR}.setAttribute('controls', 'off')")
    expect(page.locator("#panel")).to_be_hidden()


BACKGROUND = "getComputedStyle(root.querySelector('.side')).backgroundColor"


def test_theme_switches_and_the_host_page_overrides_colours(standalone: Open) -> None:
    page = standalone(
        'theme="dark"',
        css="mien-avatar { --mien-accent: rgb(1, 2, 3); }",
        color_scheme="light",
    )
    assert in_shadow(page, BACKGROUND) == "rgb(29, 26, 25)"
    send = page.get_by_role("button", name="Send")
    assert send.evaluate("(b) => getComputedStyle(b).backgroundColor") == "rgb(1, 2, 3)"  # the host's accent
    page.evaluate(f"{AVATAR}.setAttribute('theme', 'light')")
    assert in_shadow(page, BACKGROUND) == "rgb(255, 255, 255)"
    assert in_shadow(page, "getComputedStyle(root.querySelector('.frame')).colorScheme") == "light"
    # auto follows the system: light here, dark when the system says dark.
    page.evaluate(f"{AVATAR}.setAttribute('theme', 'auto')")
    assert in_shadow(page, BACKGROUND) == "rgb(255, 255, 255)"
    page.emulate_media(color_scheme="dark")
    assert in_shadow(page, BACKGROUND) == "rgb(29, 26, 25)"
    page.emulate_media(color_scheme="light")
    page.screenshot(path=ARTIFACTS / "element-light.png")


HOSTILE = """
html { font-size: 40px; }
body { font: italic 30px/3 serif; color: red; letter-spacing: 6px; text-transform: uppercase;
       text-align: center; white-space: nowrap; visibility: visible; cursor: wait; }
* { box-sizing: content-box; margin: 9px; }
button, textarea, ol, li, form, section, header, details { display: none !important; }
.chat, .composer, .send, #message { display: none !important; color: lime !important; }
"""


def test_hostile_host_css_cannot_restyle_the_inside(standalone: Open, fake_llm: ScriptedOpenAI) -> None:
    page = standalone(style="width: 420px; height: 520px", css=HOSTILE)
    expect(page.locator("#message")).to_be_visible()
    send = page.get_by_role("button", name="Send")
    expect(send).to_be_visible()
    style = send.evaluate(
        """(b) => { const s = getComputedStyle(b);
                    return [s.fontSize, s.letterSpacing, s.textTransform, s.fontStyle, s.boxSizing]; }"""
    )
    assert style == ["15px", "normal", "none", "normal", "border-box"]
    fake_llm.queue([{"content": "[joy] Still fine."}])
    page.locator("#message").fill("hello")
    page.locator("#message").press("Enter")
    wait_reply_done(page, 1)
    color = page.locator("#chat .msg.mien .text").evaluate("(t) => getComputedStyle(t).color")
    assert color != "rgb(255, 0, 0)"
    page.screenshot(path=ARTIFACTS / "element-hostile-css.png")


# ---------------------------------------------------------------- voice, reset


def test_the_voice_attribute_asks_for_a_tap_then_speaks(standalone: Open) -> None:
    # Not waited for with page.evaluate: Playwright runs it as a user gesture, which would let audio start.
    page = standalone('voice="on"', ready=False, autoplay_rule=True)
    hear = page.get_by_role("button", name="Tap to hear")
    expect(hear).to_be_visible(timeout=WAIT_MS)  # no user gesture yet: the browser keeps audio suspended
    assert page.evaluate(f"{AVATAR}.voice") is False
    hear.click()
    expect(hear).to_be_hidden()
    page.wait_for_function(f"{AVATAR}.voice === true", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Voice")).to_have_attribute("aria-pressed", "true")
    page.evaluate(f"{AVATAR}.speak('[joy] Hello there.')")
    page.wait_for_function(f"{AVATAR}.voiceStats.played >= 1", timeout=WAIT_MS)

    # voice="off": silent, and no voice button.
    page.evaluate(f"{AVATAR}.setAttribute('voice', 'off')")
    page.wait_for_function(f"{AVATAR}.voice === false", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Voice")).to_be_hidden()
    # voice="on" again after the page has had a gesture: on at once, no tap needed.
    page.evaluate(f"{AVATAR}.setAttribute('voice', 'on')")
    page.wait_for_function(f"{AVATAR}.voice === true", timeout=WAIT_MS)
    expect(hear).to_be_hidden()


def test_one_press_on_the_voice_button_turns_the_voice_on(standalone: Open) -> None:
    """voice="on" before any gesture: the press on Voice is the gesture, and it turns the voice on (its
    pointerdown must not turn it on first for its click to turn it off again)."""
    page = standalone('voice="on"', ready=False, autoplay_rule=True)  # no page.evaluate before the press
    voice = page.get_by_role("button", name="Voice")
    expect(page.get_by_role("button", name="Tap to hear")).to_be_visible(timeout=WAIT_MS)
    voice.click()
    expect(voice).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Tap to hear")).to_be_hidden()
    assert page.evaluate(f"{AVATAR}.voice") is True
    # From the keyboard too: Enter turns it off (declined: no "Tap to hear" asks again), Enter on again.
    voice.press("Enter")
    expect(voice).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("button", name="Tap to hear")).to_be_hidden()
    voice.press("Enter")
    expect(voice).to_have_attribute("aria-pressed", "true")


# Two chat panels on one page (two elements, say) each underline their own spoken word: CSS.highlights is
# one registry per document. Returns the highlighted words after each caption.
TWO_CAPTIONS = """async () => {
  const { ChatPanel } = await import('/web/chat.js');
  const [a, b] = ['a', 'b'].map((name) => {
    const avatar = document.createElement('div');
    const list = document.createElement('ol');
    avatar.append(list);
    document.body.append(avatar);
    new ChatPanel(list, avatar);
    const fire = (type, detail) => avatar.dispatchEvent(new CustomEvent(type, { detail }));
    fire('reply', { replyId: 0, source: 'model' });
    fire('text', { replyId: 0, offset: 0, delta: `${name}one ${name}two` });
    return (offset) => fire('caption', { replyId: 0, offset, sentence: 0 });
  });
  const shown = () => [...(CSS.highlights.get('mien-caption') ?? [])].map((r) => r.toString()).sort();
  const out = [];
  a(0); out.push(shown());
  b(0); out.push(shown());
  a(5); out.push(shown());
  return out;
}"""


def test_two_chat_panels_keep_their_own_spoken_word(module_page: Page) -> None:
    assert module_page.evaluate(TWO_CAPTIONS) == [["aone"], ["aone", "bone"], ["atwo", "bone"]]


def test_reset_starts_a_new_conversation(standalone: Open, fake_llm: ScriptedOpenAI) -> None:
    page = standalone()
    session = page.evaluate(f"{AVATAR}.sessionId")
    fake_llm.queue([{"content": "[joy] Noted, Ada."}])
    page.evaluate(f"{AVATAR}.send('My name is Ada.')")
    wait_reply_done(page, 1)
    page.evaluate(f"{AVATAR}.setGain('joy', 0.5)")
    # A reply still streaming when reset() comes ends interrupted; then everything is gone.
    fake_llm.queue([{"content": "Thinking about"}, {"hold": True}])
    page.evaluate(f"{AVATAR}.send('Tell me more')")
    expect(page.locator("#chat .msg.mien").last).to_contain_text("Thinking about", timeout=WAIT_MS)
    assert page.evaluate(f"{AVATAR}.reset()") is True
    (history,) = wait_events(page, "history", 1)
    assert (history["reason"], history["turns"]) == ("clear", [])
    assert events(page, "replyend")[-1]["status"] == "interrupted"
    expect(page.locator("#chat .msg")).to_have_count(0)
    expect(page.locator("#chat .note")).to_have_text(["Conversation cleared."])
    assert page.evaluate(f"{AVATAR}.gains.joy") == 1
    assert page.evaluate(f"{AVATAR}.exportHistory()") == []
    assert page.evaluate(f"{AVATAR}.sessionId") == session  # the same session, a new conversation
    # The model no longer sees the old turns.
    fake_llm.queue([{"content": "Hello!"}])
    page.evaluate(f"{AVATAR}.send('Who am I?')")
    wait_reply_done(page, 1)
    contents = [m["content"] for m in fake_llm.requests[-1]["messages"]]
    assert "My name is Ada." not in contents


# ---------------------------------------------------------------- history and captions


# Each tag chip of a reply: its emotion, its hover text, and the first visible characters after it.
TAG_CHIPS = """(t) => [...t.querySelectorAll('.chip[data-source="tag"]')].map((c) => {
  const after = document.createRange();
  after.setStartAfter(c);
  after.setEnd(t, t.childNodes.length);
  const shown = after.cloneContents();
  for (const chip of shown.querySelectorAll('.chip')) chip.remove();
  return [c.textContent, c.title, shown.textContent.trim().slice(0, 5)];
})"""


def test_restored_replies_show_their_chips_like_live_ones(standalone: Open, fake_llm: ScriptedOpenAI) -> None:
    page = standalone()
    fake_llm.queue([{"content": "[joy] Nice to meet you, **Ada**! [sadness:0.5] Sadly I must go."}])
    page.evaluate(f"{AVATAR}.send('My name is Ada.')")
    wait_reply_done(page, 1)
    live = page.locator("#chat .msg.mien .text").last
    before_reload = live.evaluate(TAG_CHIPS)
    assert before_reload == [["joy", "tag · 100%", "Nice "], ["sadness", "tag · 100%", "Sadly"]]

    page.reload()
    wait_ready(page)
    wait_events(page, "history", 1)
    restored = page.locator("#chat .msg.mien.restored .text")
    expect(restored).to_have_count(1)
    assert restored.evaluate(TAG_CHIPS) == before_reload  # each chip before the same words
    assert restored.evaluate("(t) => t.firstElementChild.className") == "chip"
    expect(restored.locator("strong")).to_have_text("Ada")


CAPTION = """([replyId, offset]) => {
  const a = document.querySelector('mien-avatar');
  a.dispatchEvent(new CustomEvent('caption', { detail: { replyId, offset, sentence: 0 } }));
  const [range] = CSS.highlights.get('mien-caption') ?? [];
  if (!range) return null;
  const before = document.createRange();
  before.setStart(a.shadowRoot.querySelector('#chat .msg.mien:last-child .text'), 0);
  before.setEnd(range.startContainer, range.startOffset);
  const shown = before.cloneContents();
  for (const chip of shown.querySelectorAll('.chip')) chip.remove();
  return { text: range.toString(), before: shown.textContent.replace(/\\s+/g, ' '),
           inside: range.startContainer.parentElement.closest('a, strong, em, code')?.localName ?? null };
}"""


def test_the_spoken_word_is_underlined_where_markdown_changed_the_text(
    standalone: Open, fake_llm: ScriptedOpenAI
) -> None:
    """Caption offsets are code points of the raw reply; markup and a link's URL do not show, so counting
    a word's occurrences in the raw text would pick the wrong one (the URL holds a "hi" no one sees)."""
    page = standalone()
    raw = "See [docs](https://a.org/hi) – **hi** there, hi again. 𝒳 `hi`"
    fake_llm.queue([{"content": raw}])
    page.evaluate(f"{AVATAR}.send('Say hi')")
    wait_reply_done(page, 1)
    reply_id = events(page, "reply")[-1]["replyId"]
    visible = events(page, "replyend")[-1]["text"]
    points = list(visible)  # offsets on the wire are code points
    starts = [i for i in range(len(points)) if "".join(points[i : i + 2]) == "hi"]
    # In order: the URL's "hi" (not shown), **hi**, "hi again", `hi` (after 𝒳: two UTF-16 units).
    assert len(starts) == 4
    # Each caption's offset is where its whitespace-delimited word starts: at "**", "hi", "`" and "[".
    first = page.evaluate(CAPTION, [reply_id, len(visible[: visible.index("[docs")])])
    offsets = (starts[1] - 2, starts[2], starts[3] - 1)
    bold, plain, code = (page.evaluate(CAPTION, [reply_id, at]) for at in offsets)
    assert first == {"text": "docs", "before": "See ", "inside": "a"}
    assert bold == {"text": "hi", "before": "See docs – ", "inside": "strong"}
    assert plain is not None and (plain["text"], plain["before"]) == ("hi", "See docs – hi there, ")
    assert code is not None and (code["text"], code["inside"]) == ("hi", "code")
    assert page.locator("#chat .msg.mien").last.get_attribute("data-caption") == "hi"


def test_the_markdown_source_map(module_page: Page) -> None:
    got = module_page.evaluate(
        """async () => {
          const { renderMarkdown } = await import('/web/markdown.js');
          const src = 'A **bold** \\\\*x and [link](https://e.org/bold) then `bold`\\n\\n- item bold';
          const div = document.createElement('div');
          const map = renderMarkdown(div, src);
          const at = (word, from) => {
            const i = src.indexOf(word, from);
            return map.range(i, i + word.length);
          };
          const show = (r) => r && [r.toString(), r.startContainer.parentElement.localName];
          return [show(at('bold')), show(at('bold', 10)), show(at('bold', 45)), show(at('bold', 57)),
                  show(at('link')), show(at('x')), map.range(2, 4)];
        }"""
    )
    assert got == [
        ["bold", "strong"],
        None,  # inside the link's URL: not rendered
        ["bold", "code"],
        ["bold", "li"],
        ["link", "a"],
        ["x", "p"],  # after the escaping backslash
        None,  # "**": markup only
    ]


# ---------------------------------------------------------------- a phone


def test_the_built_in_ui_on_a_phone(standalone: Open, fake_llm: ScriptedOpenAI) -> None:
    page = standalone(
        "controls",
        style="width: 100%",
        css="body { margin: 0; }",
        viewport={"width": 390, "height": 844},
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
    )
    box = page.locator("mien-avatar").bounding_box()
    assert box is not None and round(box["width"]) == 390 and round(box["height"]) == round(390 * 5 / 4)
    assert in_shadow(page, "root.querySelector('.frame').dataset.layout") == "tall"
    fake_llm.queue([{"content": "[joy] Here are **two** things:\n\n1. one\n2. two"}])
    page.locator("#message").tap()
    page.locator("#message").fill("Tell me two things")
    page.get_by_role("button", name="Send").tap()
    wait_reply_done(page, 1)
    expect(page.locator("#chat .msg.mien li")).to_have_count(2)
    page.wait_for_function("() => document.scrollingElement.scrollWidth <= 390", timeout=WAIT_MS)

    # The controls open as a drawer over the chat; the face stays in view above it.
    page.locator("#panel > summary").tap()
    slider = page.get_by_label("joy gain")
    slider.scroll_into_view_if_needed()
    assert slider.bounding_box()["height"] >= 28  # type: ignore[index]  # a finger-sized target
    drawer = page.locator("#panel").bounding_box()
    face = page.locator("mien-avatar canvas").bounding_box()
    assert drawer is not None and face is not None and drawer["y"] >= face["y"] + 0.3 * face["height"]
    reset_peaks(page)
    page.get_by_role("button", name="Show joy").tap()
    wait_peak(page, "mouthSmileLeft", 0.3)
    page.screenshot(path=ARTIFACTS / "element-phone.png")
    page.locator("#panel > summary").tap()
    expect(slider).to_be_hidden()
    expect(page.locator("#message")).to_be_in_viewport()
