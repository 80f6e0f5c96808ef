"""One session's reading pace: a token bucket of `rate` client messages a second (a second's burst). Past it
the session waits before reading on, so TCP pushes back on the client: a flood costs its sender time, not
every other session's frames, and nothing is dropped."""

from __future__ import annotations

import asyncio


class Pace:
    def __init__(self, rate: int) -> None:
        self.rate = float(rate)
        self._allowance = self.rate
        self._last: float | None = None

    async def take(self) -> None:
        """One message's worth; waits when the bucket is empty."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._last is not None:
            self._allowance = min(self.rate, self._allowance + (now - self._last) * self.rate)
        self._last = now
        if self._allowance < 1.0:
            await asyncio.sleep((1.0 - self._allowance) / self.rate)
            self._allowance, self._last = 1.0, loop.time()
        self._allowance -= 1.0
