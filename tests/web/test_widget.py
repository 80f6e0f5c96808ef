"""The one-script-tag widget and the `/embed` iframe, as a site owner uses them: a page on a second local
origin (a plain static server on another port) with no import map and hostile CSS, holding only the two
lines from the README. Debian's chromium against a real Mien server with embed keys and the scripted model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Frame, Page, expect

from server.runner import LiveServer
from tests.fakes.openai_server import ScriptedOpenAI
from tests.web.browsing import (
    ARTIFACTS,
    AVATAR,
    LAUNCH,
    RECORDER,
    WAIT_MS,
    StaticSite,
    app_with_keys,
    new_page,
    reset_peaks,
    wait_events,
    wait_peak,
    wait_ready,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
WIDGET = ROOT / "web" / "dist" / "widget.js"

# Rules that would wreck a widget living in the page's own DOM: everything unset, the element kinds the face
# is made of hidden, fonts and colours meant to leak in. The face's shadow DOM must not care.
HOSTILE_CSS = """
* { all: unset; }
head, script, style { display: none; }
div, canvas, p, span, [role=status], .stage, .notice { display: none !important; }
body { display: block; margin: 12px; font: 30px/3 serif; color: red; }
.slot { display: block; width: 360px; height: 450px; border: 2px dashed #c33; }
"""

# Records CSP violations in every frame, from before the page's own scripts run.
CSP_RECORDER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


class HostSite(StaticSite):
    """A second origin, serving pages the test writes."""

    def page(self, name: str, body: str, css: str = HOSTILE_CSS) -> str:
        head = f'<!doctype html><title>{name}</title><link rel="icon" href="data:,"><style>{css}</style>'
        return self.serve(f"/{name}", f"{head}\n{body}\n")


def two_lines(mien: str, server: bool = True, **attributes: str) -> str:
    """The README's copy-paste snippet (with the attributes given), in a slot of the host's layout;
    `server=False` leaves the element's `server` attribute out."""
    attrs = "".join(f' {k}="{v}"' for k, v in ({"server": mien} if server else {}).items())
    attrs += "".join(f' {k}="{v}"' for k, v in attributes.items())
    return (
        f'<script type="module" src="{mien}/widget.js"></script>\n'
        f'<section class="slot"><mien-avatar{attrs}></mien-avatar></section>'
    )


@pytest.fixture(scope="module", autouse=True)
def built_widget() -> None:
    """The bundle is built by `make` (never from a test: that could reach the npm registry); a stale one
    would test old code, so say so plainly."""
    assert WIDGET.is_file(), "web/dist/widget.js is not built: run `make setup`"
    sources = [
        p for p in (ROOT / "web").rglob("*.js") if "node_modules" not in p.parts and "dist" not in p.parts
    ]
    stale = [p.name for p in sources if p.stat().st_mtime > WIDGET.stat().st_mtime]
    assert not stale, f"web/dist/widget.js is older than {', '.join(stale)}: run `make setup`"


@pytest.fixture
def host() -> Iterator[HostSite]:
    site = HostSite()
    yield site
    site.close()


@pytest.fixture
def stranger() -> Iterator[HostSite]:
    """Another origin, which no key lists."""
    site = HostSite()
    yield site
    site.close()


class Served:
    """Wraps an ASGI app and notes each HTTP response's (path, status): what the server really sent."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def noting(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.log.append((scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, noting)

    def statuses(self, path: str) -> list[int]:
        return [status for p, status in self.log if p == path]


@pytest.fixture
def served() -> Served:
    return Served()


@pytest.fixture
def mien(fake_llm: ScriptedOpenAI, tmp_path: Path, host: HostSite, served: Served) -> Iterator[LiveServer]:
    """Mien with two keys for the host's origin: `site`, and `tiny` (one message a minute, one session)."""
    keys = (
        f'[keys.site]\norigins = ["{host.origin}"]\n\n'
        f'[keys.tiny]\norigins = ["{host.origin}"]\nmessages_per_minute = 1\nconcurrent_sessions = 1\n'
    )
    served.app = app_with_keys(fake_llm, tmp_path, keys, store=False)
    with LiveServer(served) as server:
        yield server


class Visit:
    """A fresh browser context on one URL, recording the element's events, CSP violations, the sockets
    opened, and uncaught errors and console errors."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.errors: list[str] = []
        self.sockets: list[str] = []
        self.page = new_page(browser, scripts=(RECORDER, CSP_RECORDER), errors=self.errors)
        self.page.on("websocket", lambda ws: self.sockets.append(ws.url))
        self.page.goto(url)

    def close(self) -> None:
        self.page.context.close()


@pytest.fixture
def visit(browser: Browser) -> Iterator[Any]:
    visits: list[Visit] = []

    def open_(url: str) -> Visit:
        visits.append(Visit(browser, url))
        return visits[-1]

    yield open_
    for v in visits:
        v.close()


def converse(where: Page | Frame, fake_llm: ScriptedOpenAI) -> None:
    """One message: the reply's text streams and the face smiles with it."""
    fake_llm.queue([{"content": "[joy] Great news,"}, {"content": " hello!"}])
    reset_peaks(where)
    assert where.evaluate(f"{AVATAR}.send('I got the job!')") is True
    (end,) = wait_events(where, "replyend")
    assert (end["status"], end["text"]) == ("complete", "Great news, hello!")
    wait_peak(where, "mouthSmileLeft", 0.2)


def test_two_lines_on_another_site_with_hostile_css(
    visit: Any, host: HostSite, mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    v = visit(host.page("shop.html", two_lines(mien.http_url, key="site", persona="guide")))
    page = v.page
    wait_ready(page)
    (connect,) = wait_events(page, "connect")
    assert connect["hello"]["persona"]["id"] == "guide"
    # One session per element: the attributes it starts with must not each open (and drop) a socket.
    assert len(v.sockets) == 1, v.sockets
    assert v.sockets[0].startswith(f"ws://127.0.0.1:{mien.port}/ws?key=site&persona=guide")

    # Sized by its container (360 px wide, 4:5), not the 960 x 600 window; the face is drawn inside it.
    box = page.locator("mien-avatar").bounding_box()
    assert box is not None and (round(box["width"]), round(box["height"])) == (360, 450)
    canvas = page.locator("mien-avatar canvas")  # Playwright's CSS pierces the open shadow root
    expect(canvas).to_be_visible()
    face = canvas.bounding_box()
    assert face is not None and round(face["width"]) == 360 and 100 < face["height"] <= 450
    assert box["y"] <= face["y"] and face["y"] + face["height"] <= box["y"] + box["height"] + 0.5

    converse(page, fake_llm)
    page.screenshot(path=ARTIFACTS / "widget-host-page.png")
    assert fake_llm.requests[-1]["messages"][-1]["content"].endswith("I got the job!")
    assert page.evaluate("window.__csp") == []
    assert v.errors == []


def test_without_a_server_attribute_the_widget_talks_to_where_it_came_from(
    visit: Any, host: HostSite, mien: LiveServer
) -> None:
    v = visit(host.page("bare.html", two_lines(mien.http_url, server=False, key="site")))
    wait_ready(v.page)
    (socket,) = v.sockets  # the widget's server, not the host page's origin
    assert socket.startswith(f"ws://127.0.0.1:{mien.port}/ws?key=site"), socket
    assert v.errors == []


@pytest.mark.parametrize(
    ("case", "code"),
    [("no key", "forbidden_origin"), ("unknown key", "unknown_key"), ("another site", "forbidden_origin")],
)
def test_refused_without_a_key_with_an_unknown_one_or_from_another_site(
    visit: Any, host: HostSite, stranger: HostSite, mien: LiveServer, case: str, code: str
) -> None:
    site, attributes = {
        "no key": (host, {}),
        "unknown key": (host, {"key": "nope"}),
        "another site": (stranger, {"key": "site"}),
    }[case]
    v = visit(site.page("refused.html", two_lines(mien.http_url, **attributes)))
    (error,) = wait_events(v.page, "error")
    assert (error["code"], error["source"]) == (code, "server")
    (disconnect,) = wait_events(v.page, "disconnect")
    assert (disconnect["code"], disconnect["retrying"]) == (1008, False)
    # The refusal shows in the widget itself (text in its shadow DOM), whatever the host's CSS hides.
    expect(v.page.locator("mien-avatar").get_by_text(re.compile("refused", re.I)).first).to_be_visible()
    assert v.page.evaluate(f"{AVATAR}.state") == "offline"
    if case == "another site":
        v.page.screenshot(path=ARTIFACTS / "widget-refused.png")


def test_a_keys_limits_hold_in_the_widget(
    visit: Any, host: HostSite, mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    visitor = visit(host.page("tiny.html", two_lines(mien.http_url, key="tiny")))
    first = visitor.page
    wait_until(first, "() => window.__mien.events.some((e) => e.type === 'connect' || e.type === 'error')")
    refused = first.evaluate("window.__mien.events.filter((e) => e.type === 'error').map((e) => e.detail)")
    assert refused == [], f"the only visitor was refused ({len(visitor.sockets)} sockets opened): {refused}"
    # One session at a time under this key: a second visitor is refused, typed.
    second = visit(host.page("tiny.html", two_lines(mien.http_url, key="tiny"))).page
    (error,) = wait_events(second, "error")
    assert error["code"] == "too_many_sessions"
    assert wait_events(second, "disconnect")[0]["retrying"] is False
    # One message a minute: the second is refused and never reaches the model.
    fake_llm.queue([{"content": "One."}])
    first.evaluate(f"{AVATAR}.send('one')")
    assert wait_events(first, "replyend")[0]["status"] == "complete"
    first.evaluate(f"{AVATAR}.send('two')")
    (limited,) = wait_events(first, "error")
    assert limited["code"] == "rate_limited"
    assert len(fake_llm.requests) == 1


def test_the_embed_iframe_on_another_site(
    visit: Any, host: HostSite, mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    css = HOSTILE_CSS + "iframe { display: block; width: 320px; height: 400px; border: 0; }"
    src = f"{mien.http_url}/embed?key=site&persona=guide"
    v = visit(host.page("framed.html", f'<iframe src="{src}" title="Mien"></iframe>', css=css))
    frame = v.page.frame_locator("iframe")
    expect(frame.locator("mien-avatar canvas")).to_be_visible(timeout=WAIT_MS)
    inner = next(f for f in v.page.frames if "/embed" in f.url)
    wait_ready(inner)
    # The element fills the frame.
    assert inner.evaluate(f"[{AVATAR}.clientWidth, {AVATAR}.clientHeight]") == [320, 400]
    assert wait_events(inner, "connect")[0]["hello"]["persona"]["id"] == "guide"
    converse(inner, fake_llm)
    v.page.screenshot(path=ARTIFACTS / "widget-embed-iframe.png")
    # Nothing the face needs (scripts, the GLB, the socket, styles) fell foul of the embed page's CSP.
    assert inner.evaluate("window.__csp") == []
    assert v.errors == []


def test_the_embed_iframe_is_refused_on_a_site_the_key_does_not_list(
    visit: Any, stranger: HostSite, mien: LiveServer
) -> None:
    src = f"{mien.http_url}/embed?key=site"
    v = visit(stranger.page("framed.html", f'<iframe src="{src}" title="Mien"></iframe>', css=""))
    v.page.wait_for_load_state("load")  # the frame's too, refused or not
    # The browser refused to show the frame (frame-ancestors) and said why in the console.
    assert [f.url for f in v.page.frames[1:]] == ["chrome-error://chromewebdata/"]
    assert any("frame-ancestors" in m for m in v.errors)


def test_the_bundle_and_the_head_are_revalidated_not_refetched(
    browser: Browser, host: HostSite, mien: LiveServer, served: Served, tmp_path: Path
) -> None:
    # A profile on disk, like a visitor's browser (a fresh context caches in memory, and not a 3.6 MB GLB).
    context = browser.browser_type.launch_persistent_context(tmp_path / "profile", **LAUNCH)
    try:
        page = context.new_page()
        page.add_init_script(RECORDER)
        page.goto(host.page("again.html", two_lines(mien.http_url, key="site")))
        wait_ready(page)
        page.reload()
        wait_ready(page)
    finally:
        context.close()
    # Same bytes the second time: the browser asks with its ETag and the server answers 304, no body.
    # (The browser reports a revalidated fetch as 200 from its cache, so count what the server sent.)
    assert served.statuses("/widget.js") == [200, 304]
    # The head comes by its content-hash URL (hello's avatar_url), immutable: not even revalidated.
    assert served.statuses("/models/ict_head.glb") == [200]
