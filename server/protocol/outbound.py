"""One connection's outbound queue and its back-pressure policy, and the pump that writes it to the socket.

JSON messages (and audio) go out in order and are never dropped: past `limit` queued messages, `put` waits
(back-pressure on whoever produces them: a reply, the receive loop). Frames are latest-wins on top: a slow
client gets the newest face, not a backlog. The few messages sent while a reply is torn down skip the bound
(`put_now`): they cannot wait for a client that may never read again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from animation.arkit import N_CHANNELS
from server.protocol.frames import encode_frame, quantize


@dataclass(frozen=True)
class Frame:
    seq: int
    t_ms: int
    channels: np.ndarray  # float32 [N_CHANNELS]


class Outbound:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._messages: deque[str | bytes] = deque()
        self._frame: Frame | None = None
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self.held = asyncio.Event()  # set while a producer waits for space (the client reads too slowly)
        self.peak = 0  # the most messages ever queued at once
        self.frames_dropped = 0

    @property
    def pending(self) -> int:
        return len(self._messages)

    async def put(self, message: str | bytes) -> None:
        """Queue a JSON (or audio) message; waits while the queue is full: back-pressure, never loss."""
        while len(self._messages) >= self.limit:
            self._space.clear()
            self.held.set()
            await self._space.wait()
        self.held.clear()
        self.put_now(message)

    def put_now(self, message: str | bytes) -> None:
        """Queue a message even past the bound."""
        self._messages.append(message)
        self.peak = max(self.peak, len(self._messages))
        self._ready.set()

    def offer_frame(self, frame: Frame) -> None:
        """Replace any unsent frame."""
        if self._frame is not None:
            self.frames_dropped += 1
        self._frame = frame
        self._ready.set()

    async def get(self) -> str | bytes | Frame:
        while True:
            if self._messages:
                message = self._messages.popleft()
                if len(self._messages) < self.limit:
                    self._space.set()
                return message
            if self._frame is not None:
                frame, self._frame = self._frame, None
                return frame
            self._ready.clear()
            await self._ready.wait()


async def pump(
    out: Outbound,
    send_text: Callable[[str], Awaitable[None]],
    send_bytes: Callable[[bytes], Awaitable[None]],
) -> None:
    """The connection's only writer, forever: frames delta-encoded against the last frame actually sent
    (a dropped frame never corrupts the client's state). A failed send raises: the session ends."""
    last_sent = np.zeros(N_CHANNELS, dtype=np.int32)
    while True:
        item = await out.get()
        if isinstance(item, Frame):
            q = quantize(item.channels)
            await send_bytes(encode_frame(item.seq, item.t_ms, q, last_sent))
            last_sent = q
        elif isinstance(item, bytes):
            await send_bytes(item)
        else:
            await send_text(item)
