"""The wire budget, checked over simulated time with the real engine and encoder (no clock)."""

from __future__ import annotations

import asyncio

from bench.server import SCRIPT, simulated_wire, ws_frame_bytes

pytest_plugins = ["tests.engines.postgres_fixtures"]


def test_websocket_framing_sizes() -> None:
    assert ws_frame_bytes(17) == 19 and ws_frame_bytes(200) == 204 and ws_frame_bytes(70000) == 70010


def test_frames_stay_under_two_kilobytes_per_second() -> None:
    result = simulated_wire(seconds=len(SCRIPT) * 4 * 3, fps=30.0, seed=1)
    assert result["frames"] == 30 * 60
    assert result["bytes_per_second"] <= 2000, result
    # Header (17) + websocket framing (2) is the floor: an idle face must not pay much more than that.
    assert result["bytes_per_frame"] >= 19


def test_the_shared_engines_bench_measures_each_engine(pg_url: str) -> None:
    """bench.shared against a real redis-server and PostgreSQL: every step timed, in order (p50 <= p99),
    Redis's steps slower than the same steps in this process (a round trip each)."""
    from bench.shared import run
    from tests.engines import RedisServer

    with RedisServer() as redis_server:
        result = asyncio.run(run(redis_server.url, pg_url, 200))
    steps = [
        (section, engine, step, figures)
        for section in ("gate", "relay", "store")
        for engine, named in result[section].items()
        for step, figures in named.items()
    ]
    assert {(s, e) for s, e, _, _ in steps} == {
        ("gate", "local"), ("gate", "redis"), ("relay", "in_process"), ("relay", "through_redis"),
        ("store", "sqlite"), ("store", "postgres"),
    }  # fmt: skip
    for *_, figures in steps:
        assert 0 < figures["p50_us"] <= figures["p99_us"]
    gate = result["gate"]
    assert gate["redis"]["message"]["p50_us"] > gate["local"]["message"]["p50_us"]
    relay = result["relay"]
    deliver = {where: figures["deliver_and_answer"]["p50_us"] for where, figures in relay.items()}
    assert deliver["through_redis"] > deliver["in_process"]
