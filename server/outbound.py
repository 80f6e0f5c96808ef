"""One connection's outbound queue: JSON messages in order (bounded, never dropped), frames latest-wins."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    seq: int
    t_ms: int
    channels: np.ndarray  # float32 [N_CHANNELS]


class Outbound:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._messages: deque[str | bytes] = deque()
        self._frame: Frame | None = None
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self.frames_dropped = 0

    async def put(self, message: str | bytes) -> None:
        """Queue a JSON (or binary audio) message; waits while the queue is full: backpressure on the
        reply, never loss."""
        while len(self._messages) >= self._limit:
            self._space.clear()
            await self._space.wait()
        self.put_now(message)

    def put_now(self, message: str | bytes) -> None:
        """Queue a message even past the bound (for the few messages sent while a reply is torn down)."""
        self._messages.append(message)
        self._ready.set()

    def offer_frame(self, frame: Frame) -> None:
        """Replace any unsent frame: a slow client gets the newest face, not a backlog."""
        if self._frame is not None:
            self.frames_dropped += 1
        self._frame = frame
        self._ready.set()

    async def get(self) -> str | bytes | Frame:
        while True:
            if self._messages:
                message = self._messages.popleft()
                if len(self._messages) < self._limit:
                    self._space.set()
                return message
            if self._frame is not None:
                frame, self._frame = self._frame, None
                return frame
            self._ready.clear()
            await self._ready.wait()
