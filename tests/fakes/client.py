"""A real websocket client for transcript tests: JSON messages and binary frames kept apart, awaited by
content (never by sleeping)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import websockets

from animation.arkit import N_CHANNELS
from server.protocol.frames import decode_audio, decode_frame, dequantize

TIMEOUT = 30.0  # a hung server fails the test instead of hanging the suite


class Client:
    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[dict[str, Any]] = []
        self.frames: list[tuple[int, int, np.ndarray]] = []  # (seq, t_ms, float channels)
        self.audio: list[tuple[int, int, bytes]] = []  # (reply_id, sentence, Ogg/Opus bytes)
        self.audio_at: list[int] = []  # len(messages) when each audio message arrived (ordering)
        self.frames_before: list[int] = []  # len(frames) when each message arrived (ordering)
        self._q = np.zeros(N_CHANNELS, dtype=np.int32)
        self._ws: Any = None
        self._new = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def __aenter__(self) -> Client:
        self._ws = await websockets.connect(self.url, max_size=1 << 22)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                if isinstance(raw, bytes) and raw[0] == 2:
                    self.audio.append(decode_audio(raw))
                    self.audio_at.append(len(self.messages))
                elif isinstance(raw, bytes):
                    seq, t_ms, self._q = decode_frame(raw, self._q)
                    self.frames.append((seq, t_ms, dequantize(self._q)))
                else:
                    self.messages.append(json.loads(raw))
                    self.frames_before.append(len(self.frames))
                async with self._new:
                    self._new.notify_all()
        finally:
            self.closed.set()
            async with self._new:
                self._new.notify_all()

    @property
    def close_code(self) -> int | None:
        """The code the server closed with (None while open)."""
        return self._ws.close_code if self._ws is not None else None

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self._ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def wait_for(self, predicate: Any, what: str = "condition") -> Any:
        """Wait until predicate(self) is truthy; returns its value."""

        async def check() -> Any:
            async with self._new:
                while not (value := predicate(self)):
                    if self.closed.is_set():
                        raise AssertionError(f"connection closed while waiting for {what}")
                    await self._new.wait()
                return value

        return await asyncio.wait_for(check(), TIMEOUT)

    async def next_message(self, type_: str, after: int = 0, **fields: Any) -> dict[str, Any]:
        """The first message of this type (matching fields) at index >= after."""

        def find(c: Client) -> dict[str, Any] | None:
            for m in c.messages[after:]:
                if m["type"] == type_ and all(m.get(k) == v for k, v in fields.items()):
                    return m
            return None

        return await self.wait_for(find, f"{type_} {fields}")

    async def frames_after(self, n: int) -> list[tuple[int, int, np.ndarray]]:
        """Wait until `n` more frames have arrived than now; returns them."""
        start = len(self.frames)
        await self.wait_for(lambda c: len(c.frames) >= start + n, f"{n} frames")
        return self.frames[start : start + n]

    def index(self, message: dict[str, Any]) -> int:
        return next(i for i, m in enumerate(self.messages) if m is message)

    def of_type(self, type_: str, reply_id: int | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if m["type"] == type_ and (reply_id is None or m.get("reply_id") == reply_id)
        ]
