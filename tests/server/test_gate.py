"""The gatekeeper's rules in simulated time, each run twice: with the counts in this process and in a real
Redis (`redis-server`, started by the tests), so the limits mean the same whichever holds them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from server.limits import Counters, EmbedKey, Gatekeeper, Limits, LocalCounters, RedisCounters
from tests.engines import RedisServer

OWN = "http://127.0.0.1:8000"
SITE = "https://shop.example"


class Clock:
    """Simulated wall-clock time, shared by the gatekeeper and the counters."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


GateFactory = Callable[..., Any]


@pytest.fixture(params=["local", "redis"])
def gate(request: pytest.FixtureRequest) -> GateFactory:
    """gate(limits, **key) -> an async context manager giving (Gatekeeper, Clock)."""

    @asynccontextmanager
    async def make(limits: Limits | None = None, **key: int) -> AsyncIterator[tuple[Gatekeeper, Clock]]:
        clock = Clock()
        counters: Counters
        if request.param == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            server.flush()
            shared = RedisCounters(server.url, clock=clock)
            shared.start()
            counters = shared
        else:
            counters = LocalCounters()
        keys = {"k": EmbedKey(id="k", origins=[SITE], **key)}
        try:
            yield Gatekeeper(keys, limits, counters, clock=clock), clock
        finally:
            if isinstance(counters, RedisCounters):
                await counters.stop()

    return make


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def test_origins_and_keys(gate: GateFactory) -> None:
    async def main() -> None:
        async with gate() as (g, _):
            assert (await g.admit(None, None, OWN, "10.0.0.1")).refusal is None  # a terminal client
            assert (await g.admit(None, OWN, OWN, "10.0.0.2")).refusal is None  # Mien's own page
            assert (await g.admit(None, SITE, OWN, "10.0.0.3")).refusal == "forbidden_origin"  # needs a key
            assert (await g.admit("nope", SITE, OWN, "10.0.0.4")).refusal == "unknown_key"
            assert (await g.admit("k", "https://evil.example", OWN, "10.0.0.5")).refusal == "forbidden_origin"
            assert (await g.admit("k", SITE, OWN, "10.0.0.6")).refusal is None
            assert (await g.admit("k", None, OWN, "10.0.0.7")).refusal is None  # a script with the key
        async with gate(Limits(require_key=True)) as (g, _):
            assert (await g.admit(None, OWN, OWN, "10.0.0.8")).refusal == "key_required"

    run(main)


def test_concurrent_sessions_are_capped_and_released(gate: GateFactory) -> None:
    async def main() -> None:
        async with gate(concurrent_sessions=2) as (g, _):
            a, b = await g.admit("k", SITE, OWN, "10.0.0.1"), await g.admit("k", SITE, OWN, "10.0.0.2")
            assert (await g.admit("k", SITE, OWN, "10.0.0.3")).refusal == "too_many_sessions"
            g.leave(a)
            assert (await g.admit("k", SITE, OWN, "10.0.0.3")).refusal is None
            assert b.key is not None and await g.open_sessions(b.key) == 2

    run(main)


def test_one_visitor_cannot_fill_a_key_or_the_server(gate: GateFactory) -> None:
    """A visitor's sessions are capped under a key and on the server; an IPv6 visitor is its /64."""

    async def main() -> None:
        async with gate(Limits(connections_per_visitor=4), sessions_per_visitor=2) as (g, _):
            assert [(await g.admit("k", SITE, OWN, "2001:db8:0:1::1")).refusal for _ in range(2)] == [
                None
            ] * 2
            assert (await g.admit("k", SITE, OWN, "2001:db8:0:1:ffff::9")).refusal == "too_many_sessions"
            assert (await g.admit("k", SITE, OWN, "2001:db8:0:2::1")).refusal is None  # another /64
            # Without a key the visitor still counts against the server's per-visitor cap (two used above).
            refusals = [(await g.admit(None, None, OWN, "2001:db8:0:1::7")).refusal for _ in range(3)]
            assert refusals == [None, None, "too_many_connections"]
            assert (await g.admit(None, None, OWN, "::ffff:192.0.2.1")).visitor == "192.0.2.1"  # the IPv4

    run(main)


def test_the_server_has_a_connection_cap(gate: GateFactory) -> None:
    async def main() -> None:
        async with gate(Limits(max_connections=3)) as (g, _):
            sessions = [await g.admit(None, None, OWN, f"10.0.0.{i}") for i in range(3)]
            assert (await g.admit(None, None, OWN, "10.0.0.9")).refusal == "too_many_connections"
            g.leave(sessions[0])
            assert (await g.admit(None, None, OWN, "10.0.0.9")).refusal is None
            assert await g.open_sessions() == 3

    run(main)


def test_messages_per_minute_per_visitor_in_simulated_time(gate: GateFactory) -> None:
    async def main() -> None:
        async with gate(messages_per_minute=3) as (g, clock):
            one, two = await g.admit("k", SITE, OWN, "1.2.3.4"), await g.admit("k", SITE, OWN, "5.6.7.8")
            t0 = clock.now
            for dt in (0.0, 1.0, 2.0):
                clock.now = t0 + dt
                assert await g.allow_message(one) is None
            clock.now = t0 + 30.0
            denial = await g.allow_message(one)
            assert denial is not None and denial[0] == "rate_limited" and "3 a minute" in denial[1]
            assert "try again in 30 s" in denial[1]  # the first message leaves the window then
            assert await g.allow_message(two) is None  # another visitor has their own allowance
            clock.now = t0 + 60.5
            assert await g.allow_message(one) is None  # the first message left the window

    run(main)


def test_sessions_without_a_key_have_a_message_limit_too(gate: GateFactory) -> None:
    async def main() -> None:
        async with gate(Limits(messages_per_minute=2)) as (g, clock):
            script = await g.admit(None, None, OWN, "203.0.113.5")
            assert [await g.allow_message(script) for _ in range(2)] == [None, None]
            clock.now += 2.0
            denial = await g.allow_message(script)
            assert denial is not None and "2 a minute" in denial[1]

    run(main)


def test_tokens_per_day_for_the_key_and_for_each_visitor(gate: GateFactory) -> None:
    async def main() -> None:
        async with gate(tokens_per_day=1000, visitor_tokens_per_day=600) as (g, clock):
            a, b, c = [await g.admit("k", SITE, OWN, f"10.0.0.{i}") for i in range(3)]
            g.spend(a, 599)
            assert await g.allow_message(a) is None
            g.spend(a, 5)
            assert "your daily allowance" in ((await g.allow_message(a)) or ("", ""))[1]
            g.spend(b, 400)
            assert "this site's daily allowance" in ((await g.allow_message(c)) or ("", ""))[1]
            assert a.key is not None and await g.spent_today(a.key) == 1004
            clock.now += 86400.0  # a new day
            assert await g.allow_message(a) is None

    run(main)


def test_speech_seconds_per_day_for_the_key_and_for_each_visitor(gate: GateFactory) -> None:
    """Microphone audio is metered in seconds (a key's a day and each visitor's), apart from messages."""

    limits = {"listen_seconds_per_day": 10, "visitor_listen_seconds_per_day": 6, "messages_per_minute": 1}

    async def main() -> None:
        async with gate(**limits) as (g, clock):
            a, b, c = [await g.admit("k", SITE, OWN, f"10.0.0.{i}") for i in range(3)]
            g.listened(a, 5.9)
            assert await g.allow_listening(a) is None
            g.listened(a, 0.2)
            assert "your daily speech allowance" in ((await g.allow_listening(a)) or ("", ""))[1]
            assert await g.allow_message(a) is None  # the audio was no message: text goes on
            g.listened(b, 4.0)
            assert "this site's daily speech allowance" in ((await g.allow_listening(c)) or ("", ""))[1]
            assert a.key is not None and await g.heard_today(a.key) == pytest.approx(10.1)
            assert await g.heard_today(a.key, a.visitor) == pytest.approx(6.1)
            assert await g.spent_today(a.key) == 0  # seconds of audio are not tokens either
            clock.now += 86400.0  # a new day
            assert await g.allow_listening(a) is None

    run(main)


def test_workers_sharing_redis_share_a_keys_speech_seconds(redis_server: RedisServer) -> None:
    async def main() -> None:
        redis_server.flush()
        clock = Clock()
        keys = {"k": EmbedKey(id="k", origins=[SITE], listen_seconds_per_day=5)}
        workers = [RedisCounters(redis_server.url, clock=clock) for _ in range(2)]
        for counters in workers:
            counters.start()
        one, two = (Gatekeeper(keys, counters=counters, clock=clock) for counters in workers)
        try:
            here, there = (
                await one.admit("k", SITE, OWN, "10.0.0.1"),
                await two.admit("k", SITE, OWN, "10.0.0.2"),
            )
            one.listened(here, 3.0)
            two.listened(there, 1.5)
            await workers[0].renew()  # written to Redis (the background task would, within a moment)
            assert await two.allow_listening(there) is None
            one.listened(here, 0.5)
            await workers[0].renew()
            assert (await two.allow_listening(there) or ("", ""))[0] == "rate_limited"  # 5 s between them
        finally:
            for counters in workers:
                await counters.stop()

    run(main)


def test_quiet_visitors_are_forgotten() -> None:
    """The local message windows hold the last minute's visitors, not everyone ever seen (Redis expires
    them itself)."""

    async def main() -> None:
        clock, counters = Clock(), LocalCounters()
        g = Gatekeeper(
            {"k": EmbedKey(id="k", origins=[SITE], messages_per_minute=3)}, counters=counters, clock=clock
        )
        t0 = clock.now
        for i in range(500):
            clock.now = t0 + i / 100
            assert await g.allow_message(await g.admit("k", SITE, OWN, f"10.0.{i // 256}.{i % 256}")) is None
        assert counters.windows == 500
        clock.now = t0 + 100.0
        assert await g.allow_message(await g.admit("k", SITE, OWN, "192.0.2.1")) is None
        assert counters.windows == 1  # a minute later: only the one who just wrote

    run(main)
