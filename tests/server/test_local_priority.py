"""The embedded model generates at a lower CPU priority than the voice and the event loop (Linux), so the
first sentence's synthesis isn't slowed by the rest of the reply being generated."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from server.llm import LOCAL_MODEL, Gateway, ModelOptions
from server.llm.local import NICE


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_generation_runs_niced_and_nothing_else_does() -> None:
    gateway = Gateway(ModelOptions(model=LOCAL_MODEL, max_tokens=24, temperature=0.0))
    seen: list[int] = []
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def run() -> None:
        messages = [{"role": "user", "content": "Say hello in five words."}]
        async for _ in gateway.stream(messages):
            workers = [t for t in threading.enumerate() if t.name == "mien-local-model"]
            seen.extend(os.getpriority(os.PRIO_PROCESS, t.native_id) for t in workers if t.native_id)

    asyncio.run(run())
    assert seen and set(seen) == {max(NICE, mine)}  # the model's thread, while it generates
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller's untouched
