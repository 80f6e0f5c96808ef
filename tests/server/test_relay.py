"""A session's socket and the messages meant for it: a resume takes the session over (the old socket gets
`moved` and closes, after its reply is stored), and stop, controls and scripted lines sent from outside
the socket (`POST /sessions/{id}/messages`) reach it — in one process here, across processes over a real
Redis in test_scale.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.runner import LiveServer
from tests.engines import RedisServer
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI
from tests.fakes.process import MienProcess

KEYS = """
[keys.shop]
origins = ["https://shop.example"]
allow_speak = true

[keys.other]
origins = ["https://other.example"]
"""


@pytest.fixture
def server(fake_llm: ScriptedOpenAI, tmp_path: Path) -> Iterator[LiveServer]:
    keys = tmp_path / "keys.toml"
    keys.write_text(KEYS)
    settings = mien_settings(fake_llm, tmp_path, embed_keys=str(keys))
    with LiveServer(create_app(settings, warm_up=False)) as live:
        yield live


async def post(base: str, session_id: str, message: object, key: str = "", **kw: object) -> httpx.Response:
    params = {"key": key} if key else {}
    async with httpx.AsyncClient() as http:
        return await http.post(f"{base}/sessions/{session_id}/messages", params=params, json=message, **kw)


async def resume(url: str, session_id: str) -> Client:
    c = await Client(url + ("&" if "?" in url else "?") + "resume=1").__aenter__()
    await c.send({"type": "resume", "session_id": session_id})
    return c


def test_a_resume_takes_the_session_over_after_its_reply_is_stored(
    server: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    """Tab A is answering when tab B resumes the same conversation: A's reply ends (interrupted, stored),
    then A is told `moved` and closed with 4001, and only then does B read the history, which has it."""
    fake_llm.queue([{"content": "[joy] Once upon"}, {"hold": True}, {"content": " a time."}])

    async def main() -> None:
        async with Client(server.ws_url) as a:
            sid = (await a.next_message("hello"))["session_id"]
            await a.send({"type": "user_message", "text": "Tell me a story."})
            await a.next_message("text")  # the reply is under way, held by the model
            b = await resume(server.ws_url, sid)
            try:
                moved = await a.next_message("error", code="moved")
                ended = await a.next_message("reply_end")
                assert ended["status"] == "interrupted" and ended["text"] == "Once upon"
                assert a.index(ended) < a.index(moved)  # the reply ended (and was stored) first
                await a.closed.wait()
                assert a.close_code == 4001
                hello = await b.next_message("hello")
                assert hello["session_id"] == sid and hello["resumed"] is True
                turns = (await b.next_message("history", reason="resume"))["turns"]
                said = [(t["role"], t["content"], t["status"]) for t in turns]
                assert said == [
                    ("user", "Tell me a story.", "complete"),
                    ("assistant", "Once upon", "interrupted"),
                ]
                assert not b.of_type("error")  # the reply was not lost: it is there, interrupted
            finally:
                fake_llm.release()
                await b.__aexit__()

    asyncio.run(main())


def test_another_keys_resume_takes_nothing_over(server: LiveServer) -> None:
    """A resume under another embed key is a new session: the first socket is not disturbed."""

    async def main() -> None:
        async with Client(server.ws_url) as a:
            sid = (await a.next_message("hello"))["session_id"]
            await a.send({"type": "speak", "text": "Hello."})  # stored: the session exists
            await a.next_message("reply_end")
            b = await resume(server.ws_url + "?key=shop", sid)
            hello = await b.next_message("hello")
            assert hello["session_id"] != sid and hello["resumed"] is False
            await b.__aexit__()
            await a.send({"type": "set_control", "name": "expressiveness", "value": 1.5})
            await a.send({"type": "stop"})
            n = len(a.messages)
            await a.send({"type": "bogus"})
            await a.next_message("error", after=n, code="unknown_type")  # still served
            assert not a.closed.is_set() and not [e for e in a.of_type("error") if e["code"] == "moved"]

    asyncio.run(main())


def test_a_stop_from_outside_the_socket_ends_the_reply(server: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "[joy] Let me think"}, {"hold": True}, {"content": " about it."}])

    async def main() -> None:
        async with Client(server.ws_url) as c:
            sid = (await c.next_message("hello"))["session_id"]
            await c.send({"type": "user_message", "text": "Hm?"})
            await c.next_message("text")
            try:
                answer = await post(server.http_url, sid, {"type": "stop"})
                assert (answer.status_code, answer.json()) == (202, {"delivered": True})
                ended = await c.next_message("reply_end")
                assert ended["status"] == "interrupted" and ended["text"] == "Let me think"
            finally:
                fake_llm.release()

    asyncio.run(main())


def test_controls_and_lines_from_outside_the_socket(server: LiveServer) -> None:
    """A site's backend drives its visitor's avatar: a scripted line is spoken through the session as if its
    page had sent it; a control changes the face; anything else is a typed refusal."""

    async def main() -> None:
        async with Client(server.ws_url + "?key=shop") as c:
            sid = (await c.next_message("hello"))["session_id"]
            base = server.http_url
            answer = await post(
                base, sid, {"type": "speak", "text": "[surprise] Your order shipped!"}, "shop"
            )
            assert answer.status_code == 202
            ended = await c.next_message("reply_end")
            assert ended["text"] == "Your order shipped!"
            assert (await c.next_message("emotion"))["emotion"] == "surprise"
            answer = await post(
                base, sid, {"type": "set_emotion", "emotion": "joy", "intensity": 1.0}, "shop"
            )
            assert answer.status_code == 202
            frames = await c.frames_after(30)  # the face shows it: smiles rise (ARKit mouthSmile*)
            assert max(f[2].max() for f in frames) > 0.2

            refusals = [
                (await post(base, sid, {"type": "stop"}), 404, "unknown_session"),  # no key: not this session
                (await post(base, sid, {"type": "stop"}, "other"), 404, "unknown_session"),  # another site's
                (await post(base, "0123456789abcdef", {"type": "stop"}, "shop"), 404, "unknown_session"),
                (await post(base, sid, {"type": "user_message", "text": "hi"}, "shop"), 403, "not_allowed"),
                (await post(base, sid, {"type": "set_gain", "emotion": "joy", "gain": 9}, "shop"), 400,
                 "out_of_range"),
                (await post(base, sid, {"type": "set_emotion", "emotion": "smug"}, "shop"), 400,
                 "unknown_emotion"),
                (await post(base, sid, {"type": "stop"}, "shop", headers={"content-type": "text/plain"}), 400,
                 "invalid_message"),
                (await post(base, sid, {"type": "speak", "text": "x" * 70_000}, "shop"), 400, "too_large"),
            ]  # fmt: skip
            for response, status, code in refusals:
                assert (response.status_code, response.json()["code"]) == (status, code), response.text
            assert not c.closed.is_set()

    asyncio.run(main())


# --- across processes, over a real Redis ----------------------------------------------------------------


@pytest.fixture
def pair(fake_llm: ScriptedOpenAI, tmp_path: Path) -> Iterator[tuple[RedisServer, MienProcess, MienProcess]]:
    """Two `mien serve` processes sharing a Redis and a data directory (a reconnect may land on either)."""
    keys = tmp_path / "keys.toml"
    keys.write_text(KEYS)
    with RedisServer() as redis_server:
        env = {"MIEN_REDIS_URL": redis_server.url, "MIEN_EMBED_KEYS": str(keys)}
        a = MienProcess(fake_llm, tmp_path / "data", env=env).start()
        try:
            b = MienProcess(fake_llm, tmp_path / "data", env=env).start()
            try:
                yield redis_server, a, b
            finally:
                b.kill()
        finally:
            a.kill()


async def _logged(process: MienProcess, text: str, since: int) -> None:
    """Wait until the process has logged `text` (after its first `since` lines)."""
    for _ in range(600):
        if any(text in line for line in process.log[since:]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never logged:\n{''.join(process.log[since:])}")


def test_stop_takeover_and_controls_reach_the_process_holding_the_socket(
    pair: tuple[RedisServer, MienProcess, MienProcess], fake_llm: ScriptedOpenAI
) -> None:
    redis_server, a, b = pair
    fake_llm.queue([{"content": "[joy] Let me think"}, {"hold": True}, {"content": " about it."}])

    async def main() -> None:
        async with Client(a.url + "?key=shop") as on_a:
            sid = (await on_a.next_message("hello"))["session_id"]
            await on_a.send({"type": "user_message", "text": "Hm?"})
            await on_a.next_message("text")
            try:  # a stop sent through b ends the reply streaming from a
                answer = await post(b.http_url, sid, {"type": "stop"}, "shop")
                assert (answer.status_code, answer.json()) == (202, {"delivered": True})
                ended = await on_a.next_message("reply_end")
                assert ended["status"] == "interrupted" and ended["text"] == "Let me think"
            finally:
                fake_llm.release()
            answer = await post(b.http_url, sid, {"type": "stop"}, "other")  # the key must be the session's
            assert (answer.status_code, answer.json()["code"]) == (404, "unknown_session")

            on_b = await resume(b.url + "?key=shop", sid)  # resumed on b: a's socket is told and closed
            try:
                await on_a.next_message("error", code="moved")
                await on_a.closed.wait()
                assert on_a.close_code == 4001
                turns = (await on_b.next_message("history", reason="resume"))["turns"]
                assert [t["content"] for t in turns] == ["Hm?", "Let me think"]

                # Redis restarts empty (subscriptions gone): each process subscribes again once it is back.
                since = len(a.log)
                redis_server.stop()
                answer = await post(a.http_url, sid, {"type": "stop"}, "shop")
                assert (answer.status_code, answer.json()["code"]) == (503, "unavailable")
                redis_server.start()
                await asyncio.gather(
                    _logged(a, "relay: Redis is back", since), _logged(b, "relay: Redis is back", since)
                )
                n = len(on_b.messages)
                answer = await post(a.http_url, sid, {"type": "speak", "text": "Still here."}, "shop")
                assert answer.status_code == 202, answer.text
                assert (await on_b.next_message("reply_end", after=n))["text"] == "Still here."
            finally:
                await on_b.__aexit__()

    asyncio.run(main())
