"""What the server sends a host page besides the socket, over a real uvicorn server: the widget bundle and the
avatar with CORS and their cache policy (ETag and 304; a year, immutable, under a content-hash URL), and the
`/embed` page's CSP, framing rules and parameter checks."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from server.app import WEB, create_app
from server.assets import IMMUTABLE, REVALIDATE, Widget, content_hash
from server.runner import LiveServer
from server.settings import ConfigError, Settings
from tests.fakes.client import Client

SITE = "https://shop.example"
GLB = Path(__file__).resolve().parents[2] / "models" / "ict_head.glb"


@pytest.fixture
def built_widget() -> None:
    """`make` builds the bundle before the tests run; without it these tests fail (never skip)."""
    assert (WEB / "dist" / "widget.js").is_file(), "web/dist/widget.js is missing: run `make setup`"


needs_widget = pytest.mark.usefixtures("built_widget")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.shop]\norigins = ["{SITE}", "http://localhost:3000"]\n')
    settings = Settings(
        model="fake-model", api_base="http://127.0.0.1:9/v1", data_dir=None, embed_keys=str(keys)
    )
    with LiveServer(create_app(settings, warm_up=False)) as live:
        yield live


def get(server: LiveServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.http_url + path, headers=headers)


@needs_widget
def test_the_widget_goes_cross_origin_gzipped_and_revalidated(server: LiveServer) -> None:
    plain = get(server, "/widget.js", Origin=SITE, **{"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["access-control-allow-origin"] == "*"
    assert plain.headers["content-type"].startswith("text/javascript")
    assert plain.headers["cache-control"] == REVALIDATE
    assert "content-encoding" not in plain.headers
    # three.js's licence travels with its code.
    assert "SPDX-License-Identifier: MIT" in plain.text and "Three.js Authors" in plain.text
    assert not re.search(r"""^\s*import\s|from\s*["']three["']""", plain.text, re.M)  # no bare imports left

    zipped = httpx.get(server.http_url + "/widget.js", headers={"Accept-Encoding": "gzip", "Origin": SITE})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.text == plain.text
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3
    assert "Accept-Encoding" in zipped.headers["vary"]
    assert zipped.headers["etag"] != plain.headers["etag"]  # two representations, two validators

    for response, coding in ((plain, "identity"), (zipped, "gzip")):
        conditional = {"If-None-Match": response.headers["etag"], "Accept-Encoding": coding}
        again = get(server, "/widget.js", Origin=SITE, **conditional)
        assert again.status_code == 304 and again.content == b""
        assert again.headers["cache-control"] == REVALIDATE


@needs_widget
def test_a_content_hash_url_is_immutable_and_a_stale_one_is_not(server: LiveServer) -> None:
    digest = content_hash(WEB / "dist" / "widget.js")
    assert get(server, f"/widget.js?v={digest}").headers["cache-control"] == IMMUTABLE
    assert get(server, "/widget.js?v=0123456789abcdef").headers["cache-control"] == REVALIDATE
    glb = get(server, f"/models/ict_head.glb?v={content_hash(GLB)}", Origin=SITE)
    assert glb.headers["cache-control"] == IMMUTABLE and glb.headers["access-control-allow-origin"] == "*"


def test_hello_names_the_avatar_by_an_immutable_url(server: LiveServer) -> None:
    async def hello() -> dict[str, Any]:
        async with Client(server.ws_url) as c:
            return await c.next_message("hello")

    persona = asyncio.run(hello())["persona"]
    assert persona["avatar_url"] == f"models/{persona['avatar']}?v={content_hash(GLB)}"
    response = get(server, "/" + persona["avatar_url"])
    assert response.status_code == 200 and response.headers["cache-control"] == IMMUTABLE


def test_the_avatar_is_cached_by_etag_and_served_cross_origin(server: LiveServer) -> None:
    first = get(server, "/models/ict_head.glb", Origin=SITE)
    assert first.status_code == 200 and len(first.content) == GLB.stat().st_size
    assert first.headers["access-control-allow-origin"] == "*"
    assert first.headers["cache-control"] == REVALIDATE
    again = get(server, "/models/ict_head.glb", Origin=SITE, **{"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["access-control-allow-origin"] == "*"
    changed = get(server, "/models/ict_head.glb", **{"If-None-Match": '"something-else"'})
    assert changed.status_code == 200


def csp(response: httpx.Response) -> dict[str, str]:
    directives = (d.strip().split(" ", 1) for d in response.headers["content-security-policy"].split(";"))
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


@needs_widget
def test_embed_page_framing_follows_the_key(server: LiveServer) -> None:
    page = get(server, "/embed?key=shop&persona=guide&utm_source=mail")
    assert page.status_code == 200
    policy = csp(page)
    assert policy["frame-ancestors"] == f"'self' {SITE} http://localhost:3000"
    assert policy["default-src"] == "'none'" and policy["script-src"] == "'self'"
    assert f"ws://127.0.0.1:{server.port}" in policy["connect-src"]
    # The element with its attributes, the bundle under its hash, no inline script, unknown params dropped.
    assert '<mien-avatar key="shop" persona="guide"></mien-avatar>' in page.text
    digest = content_hash(WEB / "dist" / "widget.js")
    assert f'<script type="module" src="/widget.js?v={digest}"></script>' in page.text
    assert re.findall(r"<script[^>]*>", page.text) == [f'<script type="module" src="/widget.js?v={digest}">']
    assert "utm_source" not in page.text and "mail" not in page.text
    ui = get(server, "/embed?key=shop&chat=off&controls=&theme=dark")
    assert '<mien-avatar key="shop" chat="off" controls="" theme="dark"></mien-avatar>' in ui.text

    assert csp(get(server, "/embed"))["frame-ancestors"] == "'self'"  # no key: Mien's own pages only
    # An unknown key may be framed anywhere: its session is refused and the element says so.
    assert csp(get(server, "/embed?key=nope"))["frame-ancestors"] == "*"


@needs_widget
def test_embed_parameters_are_checked_and_escaped(server: LiveServer) -> None:
    bad = get(server, "/embed?resume=forever")
    assert bad.status_code == 400 and "resume" in bad.text
    assert get(server, "/embed?key=" + "k" * 129).status_code == 400
    assert get(server, "/embed?persona=a%0Ab").status_code == 400  # a control character
    assert get(server, "/embed?theme=Dark%20Blue").status_code == 400
    odd = get(server, '/embed?persona="><script>alert(1)</script>')
    assert odd.status_code == 200  # the session answers unknown_persona; here it is only text
    assert "<script>alert" not in odd.text and "&quot;&gt;&lt;script&gt;" in odd.text


def test_key_origins_must_be_origins(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    for origin in ("https://shop.example/", "https://Shop.example", "shop.example", "https://a.example; x"):
        keys.write_text(f'[keys.shop]\norigins = ["{origin}"]\n')
        with pytest.raises(ConfigError, match=r"keys\.shop\.origins\.0"):
            create_app(Settings(data_dir=None, embed_keys=str(keys)), warm_up=False)


def test_a_stale_gzip_twin_is_never_sent(tmp_path: Path) -> None:
    (tmp_path / "widget.js").write_text("export const version = 2;\n")
    twin = tmp_path / "widget.js.gz"
    twin.write_bytes(gzip.compress(b"export const version = 1;\n"))
    stale = (tmp_path / "widget.js").stat().st_mtime - 60
    os.utime(twin, (stale, stale))
    app = Starlette(routes=[Route("/widget.js", Widget(tmp_path).respond)])
    with LiveServer(app) as live:
        response = httpx.get(live.http_url + "/widget.js", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in response.headers and "version = 2" in response.text
        twin.write_bytes(gzip.compress(b"export const version = 2;\n"))  # rebuilt: newer again
        response = httpx.get(live.http_url + "/widget.js", headers={"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip" and "version = 2" in response.text


def test_only_what_the_browser_needs_is_public(server: LiveServer) -> None:
    """Personas' system prompts and the npm tree sit beside the served files; they stay on the server."""
    for path in ("/web/app.js", "/web/style.css", "/models/ict_head.glb", "/models/LICENSE"):
        assert get(server, path).status_code == 200, path
    for path in (
        "/models/personas/mien.toml",
        "/models/bake_ict.py",
        "/web/node_modules/three/package.json",
        "/web/package.json",
        "/web/../server/settings.py",
    ):
        assert get(server, path).status_code == 404, path
    prompt = (Path(__file__).resolve().parents[2] / "models" / "personas" / "mien.toml").read_text()
    assert "prompt" in prompt  # the file exists and holds a prompt: its 404 above is the policy, not absence
    assert get(server, "/").headers["content-security-policy"] == "frame-ancestors 'self'"
    assert get(server, "/web/index.html").headers["content-security-policy"] == "frame-ancestors 'self'"


def test_api_docs_are_off_unless_asked_for(server: LiveServer, tmp_path: Path) -> None:
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert get(server, path).status_code == 404, path
    settings = Settings(data_dir=None, api_docs=True)
    with LiveServer(create_app(settings, warm_up=False)) as live:
        assert get(live, "/openapi.json").status_code == 200 and get(live, "/docs").status_code == 200


def test_only_this_servers_host_names_are_answered(server: LiveServer) -> None:
    """A name that merely resolves here (DNS rebinding) is refused: its page is not Mien's own page."""
    assert get(server, "/healthz", host="localhost").status_code == 200
    assert get(server, "/healthz", host="attacker.example").status_code == 400

    upgrade = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-version": "13"}
    upgrade["sec-websocket-key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    assert httpx.get(server.ws_url.replace("ws:", "http:"), headers=upgrade).status_code == 101
    refused = httpx.get(
        server.ws_url.replace("ws:", "http:"), headers={**upgrade, "host": "attacker.example"}
    )
    assert refused.status_code == 400
