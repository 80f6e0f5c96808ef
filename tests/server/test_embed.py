"""Embed keys: origin allowlists and the limits that protect a site owner's bill, in units (simulated
time) and over a real server with real Origin headers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets

from server.app import create_app
from server.limits import EmbedKey, Gatekeeper, load_keys
from server.runner import LiveServer
from server.settings import ConfigError
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI

OWN = "http://127.0.0.1:8000"
SITE = "https://shop.example"


def gate(**limits: int) -> Gatekeeper:
    return Gatekeeper({"k": EmbedKey(id="k", origins=[SITE], **limits)})


def test_origins_and_keys() -> None:
    g = gate()
    assert g.admit(None, None, OWN).refusal is None  # a terminal client
    assert g.admit(None, OWN, OWN).refusal is None  # Mien's own page
    assert g.admit(None, SITE, OWN).refusal == "forbidden_origin"  # another site needs a key
    assert g.admit("nope", SITE, OWN).refusal == "unknown_key"
    assert g.admit("k", "https://evil.example", OWN).refusal == "forbidden_origin"
    assert g.admit("k", SITE, OWN).refusal is None
    assert g.admit("k", None, OWN).refusal is None  # a script with the key: counted like the site


def test_concurrent_sessions_are_capped_and_released() -> None:
    g = gate(concurrent_sessions=2)
    a, b = g.admit("k", SITE, OWN), g.admit("k", SITE, OWN)
    assert g.admit("k", SITE, OWN).refusal == "too_many_sessions"
    g.leave(a.key)
    assert g.admit("k", SITE, OWN).refusal is None
    assert b.key is not None


def test_messages_per_minute_per_visitor_in_simulated_time() -> None:
    g = gate(messages_per_minute=3)
    key = g.keys["k"]
    assert [g.allow_message(key, "1.2.3.4", t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    assert "3 a minute" in (g.allow_message(key, "1.2.3.4", 30.0) or "")
    assert g.allow_message(key, "5.6.7.8", 30.0) is None  # another visitor has their own allowance
    assert g.allow_message(key, "1.2.3.4", 60.5) is None  # the first message left the window


def test_quiet_visitors_are_forgotten() -> None:
    """The per-visitor table holds the last minute's visitors, not everyone ever seen."""
    g = gate(messages_per_minute=3)
    key = g.keys["k"]
    for i in range(500):
        assert g.allow_message(key, f"10.0.{i // 256}.{i % 256}", 100.0 + i / 100) is None
    assert g.visitors == 500
    assert g.allow_message(key, "192.0.2.1", 200.0) is None
    assert g.visitors == 1  # a minute later: only the one who just wrote


def test_tokens_per_day() -> None:
    g = gate(tokens_per_day=1000)
    key = g.keys["k"]
    g.spend(key, 999, 100.0)
    assert g.allow_message(key, "v", 101.0) is None
    g.spend(key, 5, 102.0)
    assert "allowance" in (g.allow_message(key, "v", 103.0) or "")
    assert g.allow_message(key, "v", 86400.0 + 10) is None  # a new day


def test_key_file_errors_name_the_key_and_field(tmp_path: Path) -> None:
    f = tmp_path / "keys.toml"
    f.write_text('[keys.demo]\norigins = ["https://a.example"]\nmessages_per_minute = 0\n')
    with pytest.raises(ConfigError, match=r"keys\.demo\.messages_per_minute"):
        load_keys(f)
    f.write_text("[keys.demo]\nmessages_per_minute = 5\n")
    with pytest.raises(ConfigError, match=r"keys\.demo\.origins"):
        load_keys(f)
    for controls, problem in (("{ sparkle = 1.0 }", "unknown control"), ("{ contrast = 9.0 }", "contrast")):
        f.write_text(f'[keys.demo]\norigins = ["https://a.example"]\ncontrols = {controls}\n')
        with pytest.raises(ConfigError, match=rf"keys\.demo\.controls: .*{problem}"):
            load_keys(f)


def test_a_key_sets_the_sites_starting_face(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    """Per-key defaults: a site's visitors start with its controls (over the persona's), shown in hello."""
    keys = tmp_path / "keys.toml"
    keys.write_text(
        f'[keys.calm]\norigins = ["{SITE}"]\ncontrols = {{ expressiveness = 0.6, contrast = 1.4 }}\n'
    )
    settings = mien_settings(fake_llm, None, embed_keys=str(keys))

    async def starting(url: str) -> dict[str, object]:
        async with Client(url) as c:
            return {ctl["name"]: ctl["value"] for ctl in (await c.next_message("hello"))["controls"]}

    with LiveServer(create_app(settings, warm_up=False)) as server:
        site = asyncio.run(starting(server.ws_url + "?key=calm"))
        own = asyncio.run(starting(server.ws_url))
    assert (site["expressiveness"], site["contrast"]) == (0.6, 1.4)
    assert own["contrast"] is None and own["expressiveness"] != 0.6  # the persona's, without the key


def test_a_keys_starting_face_reaches_the_prompt_too(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    """The site's mood lock shapes the words as well as the face: it is in the first request's prompt."""
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.steady]\norigins = ["{SITE}"]\ncontrols = {{ mood_lock = 1 }}\n')
    settings = mien_settings(fake_llm, None, embed_keys=str(keys))
    fake_llm.queue([{"content": "Fine."}], [{"content": "Fine."}])

    async def first_prompt(url: str) -> str:
        async with Client(url) as c:
            await c.send({"type": "user_message", "text": "Tell me something exciting!"})
            await c.next_message("reply_end")
        return str(fake_llm.requests[-1]["messages"][0]["content"])

    with LiveServer(create_app(settings, warm_up=False)) as server:
        locked = asyncio.run(first_prompt(server.ws_url + "?key=steady"))
        free = asyncio.run(first_prompt(server.ws_url))
    assert "Keep a steady calm, even tone throughout" in locked and "Tags you may use" not in locked
    assert "Keep a steady" not in free and "[joy]" in free.split("Tags you may use:")[1]


def test_real_origins_limits_and_cors(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.shop]\norigins = ["{SITE}"]\nmessages_per_minute = 2\npersona = "enthusiast"\n')
    settings = mien_settings(fake_llm, None, embed_keys=str(keys))
    fake_llm.queue([{"content": "One."}], [{"content": "Two."}])

    async def main(server: LiveServer) -> None:
        # Another site without a key: a typed refusal, then the socket closes with 1008.
        async with websockets.connect(server.ws_url, origin=SITE) as ws:
            refusal = json.loads(await ws.recv())
            assert refusal["type"] == "error" and refusal["code"] == "forbidden_origin"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        async with websockets.connect(server.ws_url + "?key=shop", origin="https://evil.example") as ws:
            assert json.loads(await ws.recv())["code"] == "forbidden_origin"
        # The shop with its key: the key's persona, and two messages a minute.
        async with Client(server.ws_url + "?key=shop") as c:  # no Origin: not a browser; limits still apply
            assert (await c.next_message("hello"))["persona"]["id"] == "enthusiast"
        async with websockets.connect(server.ws_url + "?key=shop", origin=SITE) as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello" and hello["persona"]["id"] == "enthusiast"
            codes = []
            for text in ("a", "b", "c"):
                await ws.send(json.dumps({"type": "user_message", "text": text}))
                while True:
                    raw = await ws.recv()
                    if isinstance(raw, str) and json.loads(raw)["type"] in ("reply_end", "error"):
                        msg = json.loads(raw)
                        codes.append(msg.get("code") or msg["status"])
                        break
            assert codes == ["complete", "complete", "rate_limited"]
        assert len(fake_llm.requests) == 2  # the refused message never reached the model

    with LiveServer(create_app(settings, warm_up=False)) as server:
        asyncio.run(main(server))
        js = httpx.get(f"{server.http_url}/web/mien-avatar.js", headers={"Origin": SITE})
        glb = httpx.get(f"{server.http_url}/models/ict_head.glb", headers={"Origin": SITE})
        assert js.status_code == glb.status_code == 200
        assert js.headers["access-control-allow-origin"] == glb.headers["access-control-allow-origin"] == "*"


def test_visitors_of_an_embedding_site_never_see_provider_details(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """The provider's own error text (it may name internal endpoints) reaches the server's own page, not
    the visitors of a site that embeds the avatar; both get the typed error."""
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.shop]\norigins = ["{SITE}"]\n')
    settings = mien_settings(fake_llm, None, embed_keys=str(keys))
    fake_llm.queue([{"status": 500}], [{"status": 500}])

    async def failure(url: str) -> dict[str, object]:
        async with Client(url) as c:
            await c.send({"type": "user_message", "text": "Hello?"})
            return await c.next_message("error")

    with LiveServer(create_app(settings, warm_up=False)) as server:
        own = asyncio.run(failure(server.ws_url))
        visitor = asyncio.run(failure(server.ws_url + "?key=shop"))
    assert own["code"] == visitor["code"] == "provider_error"
    assert "fake-model" in str(own["message"]) and "500" in str(own["message"])
    assert "fake-model" not in str(visitor["message"]) and "500" not in str(visitor["message"])
    assert "try again" in str(visitor["message"])
