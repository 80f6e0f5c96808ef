"""One connection's outbound queue and its back-pressure policy, and the pump that writes it to the socket.

JSON messages (and audio) go out in order and are never dropped: past `limit` queued messages or
`byte_limit` queued bytes, `put` waits (back-pressure on whoever produces them: a reply, the receive loop,
so a client that asks for much and reads nothing holds at most a budget's worth of memory). Frames are
latest-wins on top: a slow client gets the newest face, not a backlog. The few messages sent while a reply
is torn down skip the bound (`put_now`): they cannot wait for a client that may never read again. A
Goodbye, last, closes the socket once everything before it is out.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from animation.arkit import N_CHANNELS
from server.metrics import TALLY
from server.protocol.frames import encode_frame, frame_header


class Frame(NamedTuple):  # a tuple: made per session per step, and a tuple is the cheapest to make
    seq: int
    t_ms: int
    wire: np.ndarray  # int32 [N_CHANNELS], quantized (frames.quantize); never written to after it is offered
    step: int = -1  # the animator's step that made it
    delta: bytes | None = None  # its wire body against the face's frame of step - 1 (frames.encode_deltas)


FAIR_SHARE = 16  # messages a session's reader or writer handles before letting the other sessions run


@dataclass(frozen=True)
class Goodbye:
    """The last item: close the socket with this code once everything before it is sent."""

    code: int
    reason: str


class Outbound:
    def __init__(self, limit: int, byte_limit: int = 4 << 20) -> None:
        self.limit = limit
        self.byte_limit = byte_limit
        self.bytes = 0  # queued now (a text's characters, an audio message's bytes)
        self._messages: deque[str | bytes | Goodbye] = deque()
        self._frame: Frame | None = None
        # The writer's wake-up: a bare future, not an asyncio.Event, because a frame sets it for every session
        # every step and the Event's bookkeeping was a tenth of a loaded server's time (py-spy).
        self._waiter: asyncio.Future[None] | None = None
        self._space = asyncio.Event()
        self._space.set()
        self.held = asyncio.Event()  # set while a producer waits for space (the client reads too slowly)
        self.peak = 0  # the most messages ever queued at once
        self.frames_dropped = 0
        self.closing = False  # a Goodbye is queued: no more frames

    @property
    def pending(self) -> int:
        return len(self._messages)

    async def put(self, message: str | bytes) -> None:
        """Queue a JSON (or audio) message; waits while the queue is full: back-pressure, never loss."""
        while len(self._messages) >= self.limit or self.bytes >= self.byte_limit:
            self._space.clear()
            self.held.set()
            await self._space.wait()
        self.held.clear()
        self.put_now(message)

    def put_now(self, message: str | bytes) -> None:
        """Queue a message even past the bound."""
        self._messages.append(message)
        self.bytes += len(message)
        self.peak = max(self.peak, len(self._messages))
        self._wake()

    def close(self, code: int, reason: str) -> None:
        """End the connection after what is queued (an error explaining why, say): frames stop now."""
        self._messages.append(Goodbye(code, reason))
        self._frame, self.closing = None, True
        self._wake()

    def offer_frame(self, frame: Frame) -> None:
        """Replace any unsent frame."""
        if self.closing:
            return
        if self._frame is not None:
            self.frames_dropped += 1
            TALLY.frames_dropped += 1
        self._frame = frame
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> str | bytes | Frame | Goodbye:
        while True:
            if self._messages:
                message = self._messages.popleft()
                self.bytes -= 0 if isinstance(message, Goodbye) else len(message)
                if len(self._messages) < self.limit and self.bytes < self.byte_limit:
                    self._space.set()
                return message
            if self._frame is not None:
                frame, self._frame = self._frame, None
                return frame
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


async def pump(
    out: Outbound,
    send_text: Callable[[str], Awaitable[None]],
    send_bytes: Callable[[bytes], Awaitable[None]],
    close: Callable[[int, str], Awaitable[None]],
) -> Goodbye:
    """The connection's only writer, until a Goodbye (returned once the socket is closed with it): frames
    delta-encoded against the last frame actually sent (a dropped frame never corrupts the client's
    state). A failed send raises: the session ends."""
    last_sent = np.zeros(N_CHANNELS, dtype=np.int32)
    last_step = -2  # the step of the frame last sent
    for n in itertools.count(1):
        if n % FAIR_SHARE == 0:
            # A backlog (a flood of answers) would otherwise go out in one run: neither `get` nor a send
            # to a socket with room suspends, so every other session's frames would wait behind it.
            await asyncio.sleep(0)
        item = await out.get()
        if isinstance(item, Goodbye):
            await close(item.code, item.reason)
            return item
        if isinstance(item, Frame):
            if item.delta is not None and item.step == last_step + 1:  # the step's own delta fits
                await send_bytes(frame_header(item.seq, item.t_ms) + item.delta)
            else:  # frames dropped or hidden meanwhile: against what the client has
                await send_bytes(encode_frame(item.seq, item.t_ms, item.wire, last_sent))
            last_sent = item.wire.copy()  # a row of the step's whole array: keep 220 B, not the array
            last_step = item.step
            TALLY.frames_sent += 1
        elif isinstance(item, bytes):
            await send_bytes(item)
        else:
            await send_text(item)
