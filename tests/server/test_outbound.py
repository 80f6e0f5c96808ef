"""The connection's writer: each step's precomputed delta is used only when it is against what the client
last received; anything else is encoded against that."""

from __future__ import annotations

import asyncio

import numpy as np

from animation.arkit import N_CHANNELS
from server.protocol.frames import decode_frame, encode_frame, frame_header
from server.protocol.outbound import Frame, Outbound, pump


def wire(value: int) -> np.ndarray:
    return np.full(N_CHANNELS, value, np.int32)


def test_a_steps_delta_is_sent_only_right_after_the_step_before() -> None:
    asyncio.run(deltas_in_order())


async def deltas_in_order() -> None:
    out = Outbound(limit=8)
    sent: asyncio.Queue[bytes] = asyncio.Queue()

    async def send_bytes(data: bytes) -> None:
        await sent.put(data)

    async def nothing(*_args: object) -> None:
        return None

    writer = asyncio.create_task(pump(out, nothing, send_bytes, nothing))
    marker = b"\x00" * 7  # a valid body saying "nothing changed": distinguishable from a real encoding
    out.offer_frame(Frame(1, 0, wire(3), step=10, delta=marker))  # the first frame: nothing sent before
    assert await sent.get() == encode_frame(1, 0, wire(3), wire(0))
    out.offer_frame(Frame(2, 33, wire(3), step=11, delta=marker))  # the next step: its delta fits
    assert await sent.get() == frame_header(2, 33) + marker
    out.offer_frame(Frame(3, 99, wire(5), step=13, delta=marker))  # step 12 never sent (dropped, hidden)
    data = await sent.get()
    assert data == encode_frame(3, 99, wire(5), wire(3))
    assert np.array_equal(decode_frame(data, wire(3))[2], wire(5))
    out.close(1000, "done")
    assert (await writer).code == 1000
