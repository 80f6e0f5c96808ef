"""`mien serve` processes sharing their conversations through a real PostgreSQL (tests/engines/postgres.py):
any process resumes any session, and PostgreSQL stopped mid-session loses nothing silently: the reply
streams to its end, the user is told `not_saved` once, and once the database is back the held turns are
written, in order, with the next one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.engines.postgres import PostgresServer
from tests.fakes.client import Client
from tests.fakes.openai_server import ScriptedOpenAI
from tests.fakes.process import MienProcess

pytest_plugins = ["tests.engines.postgres_fixtures"]


async def resume(url: str, session_id: str) -> Client:
    c = await Client(f"{url}?resume=1").__aenter__()
    await c.send({"type": "resume", "session_id": session_id})
    hello = await c.next_message("hello")
    assert hello["session_id"] == session_id and hello["resumed"] is True
    return c


async def say(c: Client, text: str) -> dict[str, Any]:
    """Send a message; its reply's end (status complete)."""
    n = len(c.messages)
    await c.send({"type": "user_message", "text": text})
    end = await c.next_message("reply_end", after=n)
    assert end["status"] == "complete"
    return end


def said(history: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["role"], t["content"]) for t in history["turns"]]


def test_any_process_resumes_any_session(fake_llm: ScriptedOpenAI, tmp_path: Path, pg_url: str) -> None:
    """A session started on a goes on on b, then back on a: each process reads what the other wrote (their
    data directories apart: nothing shared but the database), and the model sees all of it."""
    fake_llm.queue(
        [{"content": "Hello from a."}], [{"content": "Hello from b."}], [{"content": "Back on a."}]
    )
    env = {"MIEN_DATABASE_URL": pg_url}
    a, b = (MienProcess(fake_llm, tmp_path / name, env=env).start() for name in ("a", "b"))
    try:

        async def main() -> None:
            async with Client(a.url) as c:
                sid = (await c.next_message("hello"))["session_id"]
                await say(c, "Hi a")
            c = await resume(b.url, sid)
            assert said(await c.next_message("history")) == [("user", "Hi a"), ("assistant", "Hello from a.")]
            await say(c, "Hi b")
            await c.__aexit__()
            c = await resume(a.url, sid)
            assert said(await c.next_message("history"))[2:] == [
                ("user", "Hi b"),
                ("assistant", "Hello from b."),
            ]
            await say(c, "Again a")
            await c.__aexit__()
            sent = [(m["role"], m["content"]) for m in fake_llm.requests[-1]["messages"][1:]]
            assert sent == [
                ("user", "Hi a"),
                ("assistant", "Hello from a."),
                ("user", "Hi b"),
                ("assistant", "Hello from b."),
                ("user", "Again a"),
            ]

        asyncio.run(main())
    finally:
        a.kill()
        b.kill()
    assert not list((tmp_path / "a").glob("*.sqlite3")) and not list((tmp_path / "b").glob("*.sqlite3"))


def test_postgres_stopped_mid_session_loses_nothing_silently(
    fake_llm: ScriptedOpenAI, tmp_path: Path, pg_server: PostgresServer, pg_url: str
) -> None:
    replies = ["First.", "Second, while the database is down.", "Third, still down.", "Fourth, it is back."]
    fake_llm.queue(*([{"content": r}] for r in replies))
    env = {"MIEN_DATABASE_URL": pg_url}
    a = MienProcess(fake_llm, tmp_path / "a", env=env).start()
    b = None
    try:

        async def during() -> str:
            async with Client(a.url) as c:
                sid = (await c.next_message("hello"))["session_id"]
                await say(c, "One")
                pg_server.stop()
                n = len(c.messages)
                end = await say(c, "Two")
                assert end["text"] == replies[1]  # the reply streamed to its end
                assert "".join(t["delta"] for t in c.of_type("text", end["reply_id"])) == replies[1]
                [told] = [e for e in c.messages[n:] if e["type"] == "error"]
                assert told["code"] == "not_saved" and told["reply_id"] == end["reply_id"]
                assert "not being saved" in told["message"] and c.index(told) < c.index(end)
                await say(c, "Three")
                assert [e["code"] for e in c.of_type("error")] == ["not_saved"]  # once per outage
                # Meanwhile a resume can't read the history: come back later (1013), not an empty chat.
                late = await Client(f"{a.url}?resume=1").__aenter__()
                await late.send({"type": "resume", "session_id": sid})
                assert (await late.next_message("error"))["code"] == "unavailable"
                await asyncio.wait_for(late.closed.wait(), 30)
                assert late.close_code == 1013 and not late.of_type("hello")
                await late.__aexit__()
                pg_server.start()
                await say(c, "Four")  # the held turns are written before this one, in order
                assert [e["code"] for e in c.of_type("error")] == ["not_saved"]
            return str(sid)

        sid = asyncio.run(during())
        b = MienProcess(fake_llm, tmp_path / "b", env=env).start()

        async def after() -> None:
            c = await resume(b.url, sid)
            history = await c.next_message("history")
            asked = ["One", "Two", "Three", "Four"]
            pairs = zip(asked, replies, strict=True)
            assert said(history) == [t for q, r in pairs for t in (("user", q), ("assistant", r))]
            assert not c.of_type("error")  # no reply_lost: every reply is there
            await c.__aexit__()

        asyncio.run(after())
    finally:
        if not pg_server.running:
            pg_server.start()
        a.kill()
        if b is not None:
            b.kill()
    log = "".join(a.log)
    assert "not saved" in log and "ERROR" in log
    assert "PostgreSQL at" in log and "host=" in log  # where, without a password (there is none here)
