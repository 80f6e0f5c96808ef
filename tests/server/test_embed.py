"""Embed keys: origin allowlists and the limits that protect a site owner's bill, in units (simulated
time) and over a real server with real Origin headers."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import websockets

from server.app import create_app
from server.limits import load_keys
from server.runner import LiveServer
from server.settings import ConfigError
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI

OWN = "http://127.0.0.1:8000"
SITE = "https://shop.example"


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
    """The provider's own error text (it may name internal endpoints) reaches the server's own page only
    when the operator asks (`error_details`, for development), never the visitors of a site that embeds the
    avatar; everyone gets the typed error."""
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.shop]\norigins = ["{SITE}"]\n')
    settings = mien_settings(fake_llm, None, embed_keys=str(keys), error_details=True)
    fake_llm.queue([{"status": 500}], [{"status": 500}], [{"status": 500}])

    async def failure(url: str) -> dict[str, object]:
        async with Client(url) as c:
            await c.send({"type": "user_message", "text": "Hello?"})
            return await c.next_message("error")

    with LiveServer(create_app(settings, warm_up=False)) as server:
        own = asyncio.run(failure(server.ws_url))
        visitor = asyncio.run(failure(server.ws_url + "?key=shop"))
    with LiveServer(create_app(replace(settings, error_details=False), warm_up=False)) as server:
        default = asyncio.run(failure(server.ws_url))
    assert own["code"] == visitor["code"] == default["code"] == "provider_error"
    assert "fake-model" not in str(default["message"]) and "try again" in str(default["message"])
    assert "fake-model" in str(own["message"]) and "500" in str(own["message"])
    assert "fake-model" not in str(visitor["message"]) and "500" not in str(visitor["message"])
    assert "try again" in str(visitor["message"])


def test_a_keys_sessions_resume_only_under_that_key_and_with_its_personas(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """A session id found in a log or another site's page resumes nothing elsewhere; `?persona=` picks only
    among the key's personas, and hello lists only those."""
    keys = tmp_path / "keys.toml"
    keys.write_text(
        f'[keys.shop]\norigins = ["{SITE}"]\npersona = "guide"\npersonas = ["sceptic"]\n'
        f'[keys.other]\norigins = ["https://other.example"]\n'
    )
    settings = mien_settings(fake_llm, tmp_path / "data", embed_keys=str(keys))
    fake_llm.queue([{"content": "Noted."}])

    async def main(server: LiveServer) -> None:
        async with Client(server.ws_url + "?key=shop&persona=sceptic") as c:
            hello = await c.next_message("hello")
            assert [p["id"] for p in hello["personas"]] == ["guide", "sceptic"]
            assert hello["persona"]["id"] == "sceptic"
            await c.send({"type": "user_message", "text": "Remember me."})
            await c.next_message("reply_end")
            sid = hello["session_id"]
        async with Client(server.ws_url + "?key=shop&persona=mien") as c:  # not one of the key's
            hello = await c.next_message("hello")
            warning = await c.next_message("error")
            assert hello["persona"]["id"] == "guide" and warning["code"] == "unknown_persona"
            assert "mien" not in warning["message"].split("known:")[1]
        for url in (f"{server.ws_url}?key=other&session={sid}", f"{server.ws_url}?session={sid}"):
            async with Client(url) as c:
                hello = await c.next_message("hello")
                assert hello["resumed"] is False and hello["session_id"] != sid
        async with Client(f"{server.ws_url}?key=shop&session={sid}") as c:
            hello = await c.next_message("hello")
            assert hello["resumed"] is True and hello["persona"]["id"] == "sceptic"
            history = await c.next_message("history")
            assert [t["content"] for t in history["turns"]] == ["Remember me.", "Noted."]

    with LiveServer(create_app(settings, warm_up=False)) as server:
        asyncio.run(main(server))


def test_scripted_lines_need_the_keys_permission(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(
        f'[keys.shop]\norigins = ["{SITE}"]\n[keys.studio]\norigins = ["{SITE}"]\nallow_speak = true\n'
    )
    settings = mien_settings(fake_llm, None, embed_keys=str(keys))

    async def speak(url: str) -> str:
        async with Client(url) as c:
            await c.next_message("hello")
            await c.send({"type": "speak", "text": "I endorse this product."})
            answer = await c.wait_for(lambda c: c.of_type("reply_end") or c.of_type("error"))
            return str(answer[0].get("code") or answer[0]["status"])

    with LiveServer(create_app(settings, warm_up=False)) as server:
        assert asyncio.run(speak(server.ws_url + "?key=shop")) == "not_allowed"
        assert asyncio.run(speak(server.ws_url + "?key=studio")) == "complete"
        assert asyncio.run(speak(server.ws_url)) == "complete"  # Mien's own page and scripts


def test_the_annotators_calls_count_against_the_key(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.shop]\norigins = ["{SITE}"]\n')
    long_sentence = "What a lovely long day it has been for all of us here. " * 4

    async def spent(emotion_model: str | None) -> int:
        settings = mien_settings(fake_llm, None, embed_keys=str(keys), emotion_model=emotion_model)
        fake_llm.queue([{"content": long_sentence}], [{"content": long_sentence}])
        app = create_app(settings, warm_up=False)
        gate = app.state.services.gate
        with LiveServer(app) as server:
            async with Client(server.ws_url + "?key=shop") as c:
                await c.send({"type": "user_message", "text": "Hi"})
                await c.next_message("reply_end")
            return await gate.spent_today(gate.keys["shop"])

    plain, annotated = asyncio.run(spent(None)), asyncio.run(spent("annotator"))
    # The annotator read the sentence and wrote it back: at least twice its ~4-characters-a-token size more.
    assert annotated - plain >= 2 * len(long_sentence.strip()) // 4
