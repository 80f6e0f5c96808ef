"""Admission to the model: at most `concurrency` replies use it at once and `waiting` more wait their turn
in order; one more is refused at once (`Busy`) instead of queueing without bound behind a model that is
saturated. A reply holds one slot for its whole pipeline (its annotator calls included), so nothing it
starts can wait on a slot it holds itself. A reply cancelled while it waits gives its place up and never
reaches the model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Busy(Exception):
    """Every slot is taken and the waiting line is full: try again in a moment."""


class ModelSlots:
    def __init__(self, concurrency: int, waiting: int) -> None:
        self.concurrency = concurrency
        self.limit = waiting
        self.running = 0
        self.waiting = 0
        self._free = asyncio.Condition()
        self.refused = 0  # replies turned away since start-up (stats, tests)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """A slot for the body; raises Busy when none is free and the line is full."""
        if self.running >= self.concurrency and self.waiting >= self.limit:
            self.refused += 1
            raise Busy("the model is busy with other conversations; try again in a moment")
        self.waiting += 1
        try:
            async with self._free:
                await self._free.wait_for(lambda: self.running < self.concurrency)
                self.running += 1
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self.running -= 1
            async with self._free:
                self._free.notify_all()  # all re-check: a waiter cancelled as it woke must not swallow it
