"""What the shared engines cost per session and per message: each step timed as a session pays it, with
the counts in this process and in Redis, turns stored in SQLite and in PostgreSQL, and a message for a
session relayed within the process and through Redis pub/sub.

    python -m bench.shared [--redis-url URL] [--database-url URL] [--n 2000] [--json]

Without a URL that engine's half is left out. Start the engines as the README says (a local redis-server on
a unix socket, a PostgreSQL database): their round trips are what is measured, so say where they ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from server.events import Turn
from server.limits import Gatekeeper, Limits, LocalCounters, RedisCounters
from server.limits.keys import EmbedKey
from server.session.relay import Answer, Relay
from server.store import Owner, Store

KEY = EmbedKey(id="bench", origins=["https://bench.example"], messages_per_minute=10_000,
               concurrent_sessions=100_000, sessions_per_visitor=100_000)  # fmt: skip


def _spread(us: list[float]) -> dict[str, float]:
    ordered = sorted(us)

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)

    return {"p50_us": rank(0.5), "p99_us": rank(0.99), "mean_us": round(sum(us) / len(us), 1)}


async def _time(n: int, step: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    for i in range(min(50, n)):  # connections opened, scripts loaded
        await step(-1 - i)
    took = []
    for i in range(n):
        t = time.perf_counter()
        await step(i)
        took.append((time.perf_counter() - t) * 1e6)
    return _spread(took)


async def gate(counters: Any, n: int) -> dict[str, Any]:
    """A session's admission (and leave) and a message's check, under an embed key."""
    gate = Gatekeeper({"bench": KEY}, Limits(max_connections=1_000_000, connections_per_visitor=1_000_000,
                                             messages_per_minute=1_000_000), counters)  # fmt: skip
    admitted = []

    async def admit(i: int) -> None:
        admission = await gate.admit("bench", None, "", f"10.0.{i % 250}.{i % 200 + 1}")
        assert admission.refusal is None, admission.reason
        admitted.append(admission)
        gate.leave(admission)

    opened = await _time(n, admit)
    one = await gate.admit("bench", None, "", "10.1.0.1")

    async def message(i: int) -> None:
        assert await gate.allow_message(one) is None

    checked = await _time(n, message)
    gate.leave(one)
    return {"admit_and_leave": opened, "message": checked}


class _Holder:
    key_id = "bench"

    async def relayed(self, message: dict[str, Any]) -> Answer:
        return Answer(True)

    async def move(self) -> None:
        pass


async def relay(redis_url: str | None, n: int) -> dict[str, Any]:
    """A message for a session (`POST /sessions/{id}/messages`) reaching its holder and answered: in the
    holder's process, and from another process through Redis (two relays here, two connections)."""
    holder, sender = Relay(redis_url), Relay(redis_url)
    await holder.start()
    await sender.start()
    try:
        if redis_url is not None:
            await asyncio.wait_for(asyncio.gather(holder._up.wait(), sender._up.wait()), 5)
        await holder.hold("0123456789abcdef", _Holder(), take_over=False)

        def via(through: Relay) -> Callable[[int], Awaitable[None]]:
            async def send(i: int) -> None:
                answer = await through.send("0123456789abcdef", "bench", {"type": "stop"})
                assert answer.ok, answer

            return send

        figures = {"in_process": {"deliver_and_answer": await _time(n, via(holder))}}
        if redis_url is not None:
            figures["through_redis"] = {"deliver_and_answer": await _time(n, via(sender))}
        return figures
    finally:
        await holder.stop()
        await sender.stop()


async def store(opened: Store, n: int) -> dict[str, Any]:
    """A turn stored (as every message and reply is), and a session's history read on resume."""
    owner = Owner("mien", "bench")

    async def append(i: int) -> None:
        await opened.append(f"{abs(i) % 100:016x}", Turn("user", f"message {i}", "complete"), owner)

    appended = await _time(n, append)

    async def read(i: int) -> None:
        await opened.turns(f"{abs(i) % 100:016x}")

    return {"append_turn": appended, "resume_read_20_turns": await _time(min(n, 500), read)}


async def run(redis_url: str | None, database_url: str | None, n: int) -> dict[str, Any]:
    from server.store.sqlite import SqliteStore

    result: dict[str, Any] = {"n": n, "gate": {"local": await gate(LocalCounters(), n)}}
    if redis_url is not None:
        shared = RedisCounters(redis_url)
        try:
            result["gate"]["redis"] = await gate(shared, n)
        finally:
            await shared.stop()
    result["relay"] = await relay(redis_url, n)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SqliteStore(Path(tmp) / "bench.sqlite3")
        try:
            result["store"] = {"sqlite": await store(sqlite, n)}
        finally:
            await sqlite.close()
    if database_url is not None:
        from server.store.postgres import PostgresStore

        postgres = PostgresStore(database_url)
        try:
            await postgres.start()  # migrated before anything is timed
            result["store"]["postgres"] = await store(postgres, n)
        finally:
            await postgres.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shared", description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", help="a Redis to measure against (redis:// or unix://)")
    parser.add_argument("--database-url", help="a PostgreSQL database to measure against (postgresql://)")
    parser.add_argument("--n", type=int, default=2000, help="timed calls per step")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.redis_url, args.database_url, args.n))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for section, engines in result.items():
        if isinstance(engines, dict):
            for engine, steps in engines.items():
                for step, figures in steps.items() if isinstance(steps, dict) else []:
                    print(f"{section:6} {engine:14} {step:22} {figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
