"""Proven by a hostile-input fuzzer (issue 14): ten thousand cases generated from the protocol's own
schema and mutated (tests/fakes/fuzz.py), against ONE live server, while a neighbour session watches its
frames. Every case gets its documented answer or a typed `error`, no session is closed for bad input
(only the transport's 1 MiB limit closes one, with 1009), the server logs no traceback, and the
neighbour's frames never stall.

Seeded: the same cases every run. MIEN_FUZZ_SEED=N draws other ones; a failure names its seed, the case
(an exact Python expression of what was sent) and hypothesis's falsifying batch. MIEN_FUZZ_SHRINK=0 skips
shrinking (each shrink step replays a whole session).

The neighbour's frames: a stall (a seq gap, or a media-time step over two frame periods) fails the test
when the server's event loop was busy or blocked in a call all along. A stall while the loop was waiting
for the GIL or a CPU (other threads of this shared process, other processes of a shared machine) is
printed with where the CPU went, and fails only with MIEN_FUZZ_STRICT_FRAMES=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import threading
import warnings
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisDeprecationWarning, HypothesisWarning

from server.runner import LiveServer
from tests.fakes.fuzz import Case, Catalog, Fuzzer, LogTrap, Neighbour, Wire, cases
from tests.fakes.openai_server import ScriptedOpenAI

SEED = int(os.environ.get("MIEN_FUZZ_SEED", "14"))
BATCH = 100  # cases per session, sent pipelined (a marker after each)
BATCHES = int(os.environ.get("MIEN_FUZZ_BATCHES", "100"))  # sessions, one hypothesis example each
SHRINK = [Phase.shrink] if os.environ.get("MIEN_FUZZ_SHRINK") != "0" else []
# Every stall fails, whatever kept the server's loop waiting (a machine running nothing else, e.g. CI).
STRICT_FRAMES = os.environ.get("MIEN_FUZZ_STRICT_FRAMES") == "1"
MODEL_REPLY = "Hello."  # what the scripted model says when no script is queued
OVERSIZE = [  # (case, answer, close code): uvicorn's ws_max_size is 1 MiB (LiveServer)
    ("text of exactly 1 MiB", "too_large", None),
    ("text of 1 MiB + 1 byte", "closed", 1009),
    ("binary of 1 MiB + 1 byte", "closed", 1009),
]


def first_hello(url: str) -> dict[str, object]:
    async def main() -> dict[str, object]:
        async with Wire(url, "") as wire:
            await wire.wait_until(lambda: wire.items, "hello")
            return wire.items[0]

    return asyncio.run(main())


@contextlib.contextmanager
def server_alone() -> Iterator[None]:
    """The fuzzer runs in the server's own process, which a deployed server never shares. Two of its
    side effects would starve the neighbour whatever the input, so they are kept out:
    - the GIL: at the default 5 ms switch interval the fuzzer's CPU-bound thread holds the server's
      thread off for up to 5 ms after every socket call it makes (stalls of ~100-700 ms measured);
    - the cyclic collector: a full collection walks the whole heap (litellm's tables, the models,
      hypothesis's own records), ~250 ms with every thread stopped. What exists now is frozen, and what
      each batch leaves behind (`freeze` below).
    (A full collection of the server's own heap after warm-up takes ~240 ms too: reported, not tested.)"""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    gc.freeze()
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.unfreeze()
        gc.collect()  # now (the neighbour is gone): what it finds (e.g. unawaited coroutines) is this test's


@pytest.mark.timeout(900)
def test_hostile_input_gets_typed_answers_and_never_starves_a_neighbour(
    mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    assert not fake_llm.scripts  # every model call gets MODEL_REPLY
    cat = Catalog.from_hello(first_hello(mien.ws_url))
    fuzzer = Fuzzer(mien.ws_url, cat, MODEL_REPLY)
    fuzzer.warm_up()
    sessions = mien.app.state.sessions

    def ended(session_id: str) -> None:
        """Wait until the server has closed the session and logged its end."""

        async def wait() -> None:
            session = sessions.get(session_id)
            if session is not None:
                await asyncio.wait_for(session.ended.wait(), 30)

        mien.call(wait())

    async def loop_thread() -> tuple[int, int]:
        return threading.get_ident(), threading.get_native_id()

    threads = mien.call(loop_thread()), threading.get_ident()
    with server_alone(), LogTrap() as trap, Neighbour(mien.ws_url, *threads) as neighbour:

        @settings(
            max_examples=BATCHES,
            database=None,
            phases=[Phase.explicit, Phase.generate, *SHRINK],
            print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.large_base_example],
        )  # fmt: skip
        @seed(SEED)
        @given(st.lists(cases(cat), min_size=BATCH, max_size=BATCH))
        def fuzz(batch: list[Case]) -> None:
            since = len(trap.records)
            try:
                ended(fuzzer.run(batch))
            finally:
                gc.freeze()  # what this batch leaves (hypothesis's records) stays out of the collector
            tracebacks = trap.tracebacks(since)
            assert not tracebacks, "the server logged:\n" + "\n".join(tracebacks)

        found: BaseException | None = None
        try:
            with warnings.catch_warnings():
                # A falsifying batch is long to print; print it anyway.
                warnings.filterwarnings("ignore", "Generating overly large repr", HypothesisWarning)
                # The server's websockets keepalive (uvicorn pings the neighbour every 20 s) draws from
                # `random` in the server's thread while hypothesis, in this one, checks nobody does.
                warnings.filterwarnings(
                    "ignore", "Do not use the `random` module", HypothesisDeprecationWarning
                )
                fuzz()
        except Exception as e:  # reported below, with whatever else fails
            e.add_note(f"fuzz seed {SEED}: MIEN_FUZZ_SEED={SEED} replays these cases")
            found = e

        # The transport's own limit, on sessions of their own: a message over 1 MiB closes its socket.
        since = len(trap.records)
        oversize, ids = fuzzer.oversize()
        for session_id in ids:
            ended(session_id)
        fits = len(oversize) == len(OVERSIZE) and all(
            got[:2] == want[:2] and (got[2] == want[2] or (want[2] == 1009 and got[2] == 1006))
            for got, want in zip(oversize, OVERSIZE, strict=True)
        )  # 1009, or the dropped connection a client sees when the close comes while it is still sending
        problems = [] if fits else [f"over 1 MiB: {oversize}, documented: {OVERSIZE}"]
        if first_hello(mien.ws_url)["type"] != "hello":
            problems.append("the server no longer serves")
        problems += [f"the server logged: {t}" for t in trap.tracebacks(since)]

    if neighbour.dropped or len(neighbour.frames) <= BATCHES:
        problems.append(f"the neighbour lost its session ({len(neighbour.frames)} frames)")
    stalls = list(neighbour.stalls(cat.fps))
    problems += [f"the neighbour starved: {s}" for s in stalls if s.busy_loop or STRICT_FRAMES]
    print(f"\nfuzz seed {SEED}: {fuzzer.stats['cases']} cases ({fuzzer.stats['messages']} messages) "
          f"in {fuzzer.sessions} sessions; the neighbour got {len(neighbour.frames)} frames")  # fmt: skip
    for key, n in sorted(fuzzer.stats.items()):
        print(f"  {key}: {n}")
    for stall in stalls:  # those with the server's loop busy or blocked fail below (all, when strict)
        print(f"  stall: {stall}")
    if found is not None:
        for problem in problems:
            found.add_note(problem)
        raise found
    assert not problems, "\n".join(problems)
    assert fuzzer.stats["cases"] >= BATCH * BATCHES + len(oversize)
    assert BATCH * BATCHES >= 10_000 or "MIEN_FUZZ_BATCHES" in os.environ
