"""The server's own limits, live: sessions per visitor (a proxy's clients are told apart by the
X-Forwarded-For the proxy sets) and messages per minute for sessions without an embed key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import websockets

from server.app import create_app
from server.runner import LiveServer
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI


async def first_message(url: str, forwarded_for: str) -> tuple[str, int | None]:
    """The first message's type (or error code) and, when the server closes at once, the close code."""
    async with websockets.connect(url, additional_headers={"X-Forwarded-For": forwarded_for}) as ws:
        message = json.loads(await ws.recv())
        if message["type"] == "error":
            await ws.wait_closed()
            return message["code"], ws.close_code
        return message["type"], None


def test_one_visitor_gets_a_few_sessions_and_others_still_get_in(fake_llm: ScriptedOpenAI) -> None:
    settings = mien_settings(fake_llm, None, connections_per_visitor=2)
    with LiveServer(create_app(settings, warm_up=False)) as live:

        async def main() -> None:
            held = [
                await websockets.connect(live.ws_url, additional_headers={"X-Forwarded-For": "198.51.100.7"})
                for _ in range(2)
            ]
            try:
                assert [json.loads(await ws.recv())["type"] for ws in held] == ["hello", "hello"]
                assert await first_message(live.ws_url, "198.51.100.7") == ("too_many_connections", 1008)
                # Behind the same proxy, another visitor: in.
                assert await first_message(live.ws_url, "198.51.100.8") == ("hello", None)
            finally:
                for ws in held:
                    await ws.close()

        asyncio.run(main())


def test_a_script_without_a_key_is_rate_limited(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "One."}], [{"content": "Two."}])
    settings = mien_settings(fake_llm, None, messages_per_minute=2)
    with LiveServer(create_app(settings, warm_up=False)) as live:

        async def main() -> None:
            async with Client(live.ws_url) as c:
                for text in ("one", "two"):
                    n = len(c.messages)
                    await c.send({"type": "user_message", "text": text})
                    assert (await c.next_message("reply_end", after=n))["status"] == "complete"
                n = len(c.messages)
                await c.send({"type": "user_message", "text": "three"})
                error = await c.next_message("error", after=n)
                assert error["code"] == "rate_limited" and "2 a minute" in error["message"]
                assert len(fake_llm.requests) == 2  # the third never reached the model

        asyncio.run(main())


def test_replies_wait_in_a_bounded_line_for_the_model_and_one_more_is_told_busy(
    fake_llm: ScriptedOpenAI,
) -> None:
    """One reply runs (held by the model), one waits its turn, a third is refused at once with `busy`;
    a stop frees a waiting place without the model ever seeing that reply."""
    fake_llm.queue([{"content": "First"}, {"hold": True}, {"content": " done."}], [{"content": "Second."}])
    settings = mien_settings(fake_llm, None, model_concurrency=1, model_queue=1)
    with LiveServer(create_app(settings, warm_up=False)) as live:
        slots = live.app.state.services.gateway.slots

        async def main() -> None:
            async with Client(live.ws_url) as a, Client(live.ws_url) as b, Client(live.ws_url) as c:
                await a.send({"type": "user_message", "text": "one"})
                await a.next_message("text")  # A has the model
                await b.send({"type": "user_message", "text": "two"})
                await b.wait_for(lambda _: slots.waiting == 1, "B waiting for the model")
                n = len(c.messages)
                await c.send({"type": "user_message", "text": "three"})
                error = await c.next_message("error", after=n)
                end = await c.next_message("reply_end", after=n)
                assert error["code"] == "busy" and error["reply_id"] == end["reply_id"]
                assert end["status"] == "error" and end["text"] == ""
                # B gives up: its place in line is free, and its reply never reaches the model.
                await b.send({"type": "stop"})
                assert (await b.next_message("reply_end"))["status"] == "interrupted"
                assert slots.waiting == 0
                n = len(c.messages)
                await c.send({"type": "user_message", "text": "four"})
                await c.wait_for(lambda _: slots.waiting == 1, "C waiting for the model")
                fake_llm.release()
                assert (await a.next_message("reply_end"))["text"] == "First done."
                assert (await c.next_message("reply_end", after=n))["text"] == "Second."
                asked = [r["messages"][-1]["content"] for r in fake_llm.requests]
                assert asked == ["one", "four"]

        asyncio.run(main())


def test_exports_are_rate_limited_per_session(fake_llm: ScriptedOpenAI) -> None:
    settings = mien_settings(fake_llm, None, exports_per_minute=2)
    with LiveServer(create_app(settings, warm_up=False)) as live:

        async def main() -> None:
            async with Client(live.ws_url) as c:
                for _ in range(3):
                    await c.send({"type": "export_history"})
                error = await c.next_message("error")
                assert error["code"] == "rate_limited" and "export" in error["message"]
                assert len(c.of_type("history")) == 2
                assert c.index(error) > c.index(c.of_type("history")[-1])  # the third, not an earlier one

        asyncio.run(main())


def test_the_moderation_gate_refuses_before_the_model(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    """A word list (the server's, then a key's, whole words, any case or width) and a moderation model
    through litellm: a refused message gets `moderated` and never reaches the model; a moderation service
    that fails refuses too, with `provider_error`."""
    words = tmp_path / "blocked.txt"
    words.write_text("# the operator's list\nFORBIDDEN PHRASE\n")
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys.shop]\norigins = ["https://shop.example"]\nblocked_words = ["casino"]\n')
    settings = mien_settings(
        fake_llm, None, blocked_words=str(words), moderation_model="fake-moderation", embed_keys=str(keys)
    )
    fake_llm.flag_words = {"hateful"}

    async def answer(url: str, text: str) -> str:
        async with Client(url) as c:
            await c.next_message("hello")
            await c.send({"type": "user_message", "text": text})
            found = await c.wait_for(lambda c: c.of_type("error") or c.of_type("reply_end"))
            return str(found[0].get("code") or found[0]["status"])

    with LiveServer(create_app(settings, warm_up=False)) as live:
        own, shop = live.ws_url, live.ws_url + "?key=shop"
        assert (
            asyncio.run(answer(own, "Say the ｆｏｒｂｉｄｄｅｎ phrase!")) == "moderated"
        )  # full-width letters
        assert asyncio.run(answer(own, "Where is the casino?")) == "complete"  # the shop's word, not ours
        assert asyncio.run(answer(shop, "Where is the Casino?")) == "moderated"
        assert asyncio.run(answer(shop, "Any casinos? No: occasional questions.")) == "complete"
        assert asyncio.run(answer(shop, "You are hateful.")) == "moderated"  # the moderation model
        fake_llm.moderation_status = 503
        assert asyncio.run(answer(shop, "Hello there")) == "provider_error"
    asked = [r["messages"][-1]["content"] for r in fake_llm.requests]
    assert asked == ["Where is the casino?", "Any casinos? No: occasional questions."]
    assert [r["model"] for r in fake_llm.moderation_requests][:1] == ["fake-moderation"]


def test_a_flood_of_messages_is_read_at_the_clients_rate_and_nothing_is_lost(
    fake_llm: ScriptedOpenAI,
) -> None:
    """200 poses sent at once under a rate of 50 a second: every one is answered, in order, but over at least
    three seconds of the face's own time (a flood cannot take the event loop from other sessions)."""
    settings = mien_settings(fake_llm, None, client_messages_per_second=50)
    with LiveServer(create_app(settings, warm_up=False)) as live:

        async def main() -> None:
            async with Client(live.ws_url) as c:
                await c.frames_after(1)
                start = len(c.messages)
                for i in range(200):
                    await c.send({"type": "set_emotion", "emotion": "joy", "intensity": round(i / 200, 3)})
                await c.wait_for(lambda c: len(c.of_type("emotion")) >= 200, "200 echoes")
                echoes = [m for m in c.messages[start:] if m["type"] == "emotion"]
                assert [e["intensity"] for e in echoes] == [round(i / 200, 3) for i in range(200)]
                first, last = (c.frames_before[c.index(e)] for e in (echoes[0], echoes[-1]))
                await c.frames_after(1)
                span_ms = c.frames[last][1] - c.frames[first][1]
                assert span_ms >= 2500, span_ms  # (200 - a second's burst of 50) / 50 a second = 3 s

        asyncio.run(main())
