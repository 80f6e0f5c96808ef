"""Several `mien serve` processes sharing their limits through a real Redis (`redis-server`, started by the
test): an embed key's caps and a visitor's message rate hold across processes, a dead process's sessions
stop counting, and a Redis outage refuses new sessions with `unavailable` while open ones keep their face."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.limits import RedisCounters
from tests.engines import RedisServer
from tests.fakes.client import Client
from tests.fakes.openai_server import ScriptedOpenAI
from tests.fakes.process import MienProcess, free_port
from tests.server.test_metrics import scrape

KEYS = """
[keys.shop]
origins = ["https://shop.example"]
concurrent_sessions = 3
sessions_per_visitor = 10
messages_per_minute = 3
allow_speak = true
"""


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _servers(
    fake_llm: ScriptedOpenAI, tmp_path: Path, redis: RedisServer, n: int = 2, **env: str
) -> list[MienProcess]:
    keys = tmp_path / "keys.toml"
    keys.write_text(KEYS)
    settings = {"MIEN_REDIS_URL": redis.url, "MIEN_EMBED_KEYS": str(keys), **env}
    return [MienProcess(fake_llm, tmp_path / "data", env=settings).start() for _ in range(n)]


async def _open(url: str) -> tuple[Client, dict[str, object]]:
    """A session under the shop's key (a script: no Origin, the key's limits apply); its first message
    (hello, or the error refusing it)."""
    c = await Client(url + "?key=shop").__aenter__()
    first = await c.wait_for(lambda cl: cl.messages and cl.messages[0], "the first message")
    return c, first


def test_a_keys_session_cap_holds_across_processes(
    fake_llm: ScriptedOpenAI, tmp_path: Path, redis_server: RedisServer
) -> None:
    a, b = _servers(fake_llm, tmp_path, redis_server)
    try:

        async def main() -> None:
            opened = [await _open(url) for url in (a.url, b.url, a.url, b.url, b.url)]
            kinds = [first["type"] for _, first in opened]
            assert kinds == ["hello", "hello", "hello", "error", "error"]  # exactly 3 across both processes
            assert all(first.get("code") == "too_many_sessions" for _, first in opened[3:])
            await asyncio.gather(*(c.closed.wait() for c, _ in opened[3:]))
            assert {c.close_code for c, _ in opened[3:]} == {1008}
            await opened[0][0].__aexit__()  # a session on process a ends: its place is free on b
            counters = RedisCounters(redis_server.url)
            for _ in range(200):  # process a removes it when it sees the socket close (its own moment)
                if await counters.count("open:k:shop") == 2:
                    break
                await asyncio.sleep(0.05)
            await counters.stop()
            c, first = await _open(b.url)
            assert first["type"] == "hello"
            for client, _ in [*opened[1:], (c, first)]:
                await client.__aexit__()

        asyncio.run(main())
    finally:
        for server in (a, b):
            server.kill()


def test_a_visitors_message_rate_holds_across_processes(
    fake_llm: ScriptedOpenAI, tmp_path: Path, redis_server: RedisServer
) -> None:
    a, b = _servers(fake_llm, tmp_path, redis_server)
    try:

        async def main() -> None:
            (one, _), (two, _) = await _open(a.url), await _open(b.url)
            for c in (one, two, one):  # 3 a minute for this visitor under the key, wherever they are sent
                sent = len(c.messages)
                await c.send({"type": "speak", "text": "Hello."})
                assert (await c.next_message("reply_end", after=sent))["status"] == "complete"
            await two.send({"type": "speak", "text": "Hello again."})
            refused = await two.next_message("error")
            assert refused["code"] == "rate_limited" and "3 a minute" in refused["message"]
            assert len(two.of_type("reply_start")) == 1  # the fourth never started a reply
            for c in (one, two):
                await c.__aexit__()

        asyncio.run(main())
    finally:
        for server in (a, b):
            server.kill()


def test_a_redis_outage_refuses_new_sessions_and_spares_open_ones(
    fake_llm: ScriptedOpenAI, tmp_path: Path, redis_server: RedisServer
) -> None:
    (server,) = _servers(fake_llm, tmp_path, redis_server, n=1)
    try:

        async def main() -> None:
            open_one, _ = await _open(server.url)
            redis_server.stop()
            late, first = await _open(server.url)
            assert first["type"] == "error" and first["code"] == "unavailable"
            await late.closed.wait()
            assert late.close_code == 1013  # try again later
            await late.__aexit__()
            # The open session keeps its face, and a message it sends is refused, not lost silently.
            seen = len(open_one.frames)
            await open_one.send({"type": "speak", "text": "Still there?"})
            refused = await open_one.next_message("error")
            assert refused["code"] == "unavailable"
            await open_one.wait_for(lambda c: len(c.frames) > seen + 5, "frames during the outage")
            seqs = [f[0] for f in open_one.frames[seen:]]
            assert seqs == sorted(set(seqs))  # the face streams on, in order
            redis_server.start()  # back (empty: it kept nothing on disk)
            again, first = await _open(server.url)
            assert first["type"] == "hello"
            await open_one.send({"type": "speak", "text": "Back again."})
            assert (await open_one.next_message("reply_end"))["status"] == "complete"
            for c in (open_one, again):
                await c.__aexit__()

        asyncio.run(main())
    finally:
        server.kill()
    assert any("Redis" in line and "can't be reached" in line for line in server.log)


def test_with_redis_outage_local_sessions_are_counted_here(
    fake_llm: ScriptedOpenAI, tmp_path: Path, redis_server: RedisServer
) -> None:
    """The operator's choice: while Redis is away, this process counts on its own instead of refusing."""
    (server,) = _servers(fake_llm, tmp_path, redis_server, n=1, MIEN_REDIS_OUTAGE="local")
    try:

        async def main() -> None:
            redis_server.stop()
            opened = [await _open(server.url) for _ in range(4)]
            assert [first["type"] for _, first in opened] == ["hello", "hello", "hello", "error"]
            assert opened[3][1]["code"] == "too_many_sessions"  # the key's cap, counted locally
            for c, _ in opened:
                await c.__aexit__()

        asyncio.run(main())
    finally:
        server.kill()


def test_a_dead_processs_sessions_stop_counting_and_a_restarted_redis_relearns_live_ones(
    redis_server: RedisServer,
) -> None:
    """Leases, in simulated time: a process that never renews (killed) frees its places after the lease; a
    live one re-adds its sessions to a Redis that restarted empty on its next renewal."""

    async def main() -> None:
        now = [5_000.0]
        clock = lambda: now[0]  # noqa: E731
        dead, live = (
            RedisCounters(redis_server.url, clock=clock),
            RedisCounters(redis_server.url, clock=clock),
        )
        caps = [("open:k:shop", 3)]
        assert await dead.open("dead:1", caps) is None and await dead.open("dead:2", caps) is None
        assert await live.open("live:1", caps) is None
        assert await live.open("live:2", caps) == 0  # full: 3 of 3
        now[0] += dead.lease + 1  # `dead` never renewed (a SIGKILLed process); `live` renews:
        await live.renew()
        assert await live.count("open:k:shop") == 1
        assert await live.open("live:2", caps) is None  # the dead process's places are free again
        redis_server.stop()
        redis_server.start()  # empty
        assert await live.count("open:k:shop") == 0
        await live.renew()
        assert await live.count("open:k:shop") == 2
        for counters in (dead, live):
            await counters.stop()

    asyncio.run(main())


def test_several_workers_need_redis_or_local_limits(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    env = {**os.environ, "MIEN_MODEL": "fake-model", "MIEN_API_BASE": fake_llm.base_url}
    mien = Path(sys.executable).parent / "mien"
    command = [str(mien), "serve", "--workers", "2", "--port", str(free_port())]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "redis_url" in refused.stderr and "--local-limits" in refused.stderr


def test_workers_share_one_port_and_their_limits_and_stop_together(
    fake_llm: ScriptedOpenAI, tmp_path: Path, redis_server: RedisServer
) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(KEYS)
    env = {"MIEN_REDIS_URL": redis_server.url, "MIEN_EMBED_KEYS": str(keys)}
    server = MienProcess(fake_llm, tmp_path / "data", env=env, workers=2).start()
    try:

        async def main() -> None:
            opened = [await _open(server.url) for _ in range(4)]
            assert [first["type"] for _, first in opened] == ["hello", "hello", "hello", "error"]
            # Whichever worker answers a scrape, it counts every worker's sessions.
            base = f"http://127.0.0.1:{server.port}"
            for _ in range(6):
                figures = await asyncio.to_thread(scrape, base)
                assert figures[("mien_sessions", ())] == 3
                assert figures[("mien_sessions_refused_total", (("code", "too_many_sessions"),))] == 1
            code = await asyncio.to_thread(server.stop)  # SIGTERM to the parent: every worker drains
            assert code == 0
            for c, _ in opened[:3]:
                await c.closed.wait()
                assert c.close_code == 1012 and c.of_type("error")[-1]["code"] == "shutting_down"
            for c, _ in opened:
                await c.__aexit__()

        asyncio.run(main())
    finally:
        server.kill()
    assert sum("Application startup complete" in line for line in server.log) == 2


def test_token_amounts_sent_twice_count_once(redis_server: RedisServer) -> None:
    """A batch whose reply was lost to a timeout is sent again: Redis adds it once (its marker)."""

    async def main() -> None:
        counters = RedisCounters(redis_server.url)
        counters.add(["tok:shop:1"], 5)
        await counters.renew()
        assert await counters.totals(["tok:shop:1"]) == [5]
        counters.add(["tok:shop:1"], 7)
        await counters.renew()
        written = counters._batch  # None: confirmed; now pretend its reply never came and send it again
        assert written is None
        batch = ("lost-reply", Counter({"mien:tok:shop:1": 3}))
        for _ in range(2):
            counters._batch = batch
            await counters.renew()
        assert await counters.totals(["tok:shop:1"]) == [15]
        await counters.stop()

    asyncio.run(main())
