"""A session's life beyond one chat: closed when idle (sooner when its page is hidden), stored only once it
says something, purged when old; and a server that stops gracefully, so a restart loses no turn."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
import websockets

from server.app import create_app
from server.events import Turn
from server.runner import LiveServer
from server.store import Owner, open_store
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI

pytest_plugins = ["tests.engines.postgres_fixtures"]


async def close_code(c: Client) -> int | None:
    await asyncio.wait_for(c.closed.wait(), 30)
    return c._ws.close_code


def test_an_idle_session_is_told_why_and_closed_for_the_page_to_come_back(fake_llm: ScriptedOpenAI) -> None:
    settings = mien_settings(fake_llm, None, idle_timeout=1.0)
    with LiveServer(create_app(settings, warm_up=False)) as live:

        async def main() -> None:
            async with Client(live.ws_url) as talker, Client(live.ws_url) as idle:
                # The talker says something every 10 frames for 4 s of media time (4 idle periods): it stays.
                first = (await talker.frames_after(1))[0][1]
                while talker.frames[-1][1] - first < 4000:
                    await talker.send({"type": "typing", "active": False})
                    await talker.frames_after(10)
                assert not talker.closed.is_set()
                # Meanwhile the silent one was told, then closed with 4000 (reconnect when the user is back).
                assert await close_code(idle) == 4000
                assert idle.messages[-1]["type"] == "error" and idle.messages[-1]["code"] == "idle_timeout"
                # The talker goes quiet: it is closed the same way.
                assert await close_code(talker) == 4000

        asyncio.run(main())


def test_a_hidden_page_is_closed_sooner(fake_llm: ScriptedOpenAI) -> None:
    settings = mien_settings(fake_llm, None, idle_timeout=600.0, hidden_idle_timeout=0.5)
    with LiveServer(create_app(settings, warm_up=False)) as live:

        async def main() -> None:
            async with Client(live.ws_url) as c:
                await c.next_message("hello")
                await c.send({"type": "visibility", "hidden": True})
                assert await close_code(c) == 4000
                assert c.messages[-1]["code"] == "idle_timeout" and "hidden" in c.messages[-1]["message"]

        asyncio.run(main())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Where a server keeps its conversations: SQLite in its data directory (None), or PostgreSQL."""
    return str(request.getfixturevalue("pg_url")) if request.param == "postgres" else None


def test_sessions_are_stored_from_their_first_turn_and_old_ones_purged_at_start(
    fake_llm: ScriptedOpenAI, tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "data"

    async def seed() -> None:
        store = open_store(str(data), database_url)
        await store.append(
            "0ld0ld0ld0ld", Turn("user", "long ago"), Owner("mien"), now=time.time() - 90 * 86400
        )
        await store.append("4ecent4ecent", Turn("user", "lately"), Owner("mien"))
        await store.close()

    asyncio.run(seed())
    fake_llm.queue([{"content": "Hi."}])
    settings = mien_settings(fake_llm, data, retention_days=30, database_url=database_url)
    app = create_app(settings, warm_up=False)
    store = app.state.services.store
    with LiveServer(app) as live:

        async def main() -> None:
            async with Client(live.ws_url) as c:  # answered once start-up (and its purge) is done
                silent = (await c.next_message("hello"))["session_id"]
            assert await store.find("0ld0ld0ld0ld") is None  # purged before the first session
            assert await store.find("4ecent4ecent") == Owner("mien")
            async with Client(live.ws_url) as c:
                talked = (await c.next_message("hello"))["session_id"]
                await c.send({"type": "user_message", "text": "Hello"})
                await c.next_message("reply_end")
            assert await store.find(silent) is None  # a connection that said nothing left no row
            assert await store.find(talked) == Owner("mien")

        live.call(main())


def test_a_graceful_stop_lets_the_reply_finish_and_the_next_server_resumes_it(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """SIGTERM's path (uvicorn's should_exit): no new session gets in, the reply in progress finishes, the
    client is told to reconnect (1012), and the server on the same port resumes every turn."""
    fake_llm.queue(
        [{"content": "Half way"}, {"hold": True}, {"content": " and done."}], [{"content": "Again."}]
    )
    settings = mien_settings(fake_llm, tmp_path / "data", shutdown_grace=60.0)
    app = create_app(settings, warm_up=False)
    gate = app.state.services.gate
    live = LiveServer(app).__enter__()
    port = live.port

    async def during() -> str:
        async with Client(live.ws_url) as c:
            sid = (await c.next_message("hello"))["session_id"]
            await c.send({"type": "user_message", "text": "Tell me"})
            await c.next_message("text")
            live.server.should_exit = True  # what SIGTERM does
            await c.wait_for(lambda _: gate.closing, "the drain to start")
            async with websockets.connect(live.ws_url) as late:
                refusal = await late.recv()
                assert '"shutting_down"' in str(refusal)
                await late.wait_closed()
                assert late.close_code == 1012
            async with httpx.AsyncClient() as http:  # a balancer's health check sends visitors elsewhere
                health = await http.get(f"{live.http_url}/healthz")
            assert (health.status_code, health.json()["status"]) == (503, "draining")
            fake_llm.release()
            end = await c.next_message("reply_end")
            assert end["status"] == "complete" and end["text"] == "Half way and done."
            assert await close_code(c) == 1012
            assert c.messages[-1]["code"] == "shutting_down"
            assert c.index(c.messages[-1]) > c.index(end)
            return str(sid)

    sid = asyncio.run(during())
    live.__exit__(None, None, None)
    with LiveServer(create_app(settings, warm_up=False), port=port) as again:

        async def after() -> None:
            async with Client(f"{again.ws_url}?session={sid}") as c:
                assert (await c.next_message("hello"))["resumed"] is True
                history = await c.next_message("history")
                turns = [(t["role"], t["content"], t["status"]) for t in history["turns"]]
                assert turns == [
                    ("user", "Tell me", "complete"),
                    ("assistant", "Half way and done.", "complete"),
                ]

        asyncio.run(after())
