"""The frame clock: one task steps every session's face together (FaceBank is vectorized over sessions)
and offers each visible session its newest frame. Only this module reads the clock for animation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from animation.engine import FaceBank

FrameSink = Callable[[np.ndarray, float], None]


class Animator:
    def __init__(self, fps: float, seed: int | None = None) -> None:
        self.fps = fps
        self.bank = FaceBank(seed=seed)
        self._sinks: dict[int, FrameSink] = {}
        self._task: asyncio.Task[None] | None = None
        self._t0 = 0.0

    def now(self) -> float:
        """Animation time in seconds (monotonic, since the animator started)."""
        return asyncio.get_running_loop().time() - self._t0

    def start(self) -> None:
        self._t0 = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._run(), name="mien-animator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def attach(self, sink: FrameSink) -> int:
        slot = self.bank.add(self.now())
        self._sinks[slot] = sink
        return slot

    def detach(self, slot: int) -> None:
        self._sinks.pop(slot, None)
        self.bank.remove(slot)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.fps
        deadline = loop.time()
        while True:
            deadline += period
            if self._sinks:
                t = self.now()
                frames = self.bank.step(t)
                for slot, sink in list(self._sinks.items()):
                    sink(frames[slot], t)
            delay = deadline - loop.time()
            if delay < -period:  # fell behind (machine stalled): skip ahead instead of bursting
                deadline = loop.time()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))
