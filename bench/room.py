"""A simulated room around one real session, for the barge-in and turn-taking benches: a loudspeaker that
plays the avatar's voice as a browser would, an echo path from it back into the microphone, the user's
own recordings, and a microphone streamed into the server in real time.

- The loudspeaker: each sentence's Ogg/Opus audio (binary kind 2) decoded and resampled to 16 kHz, started
  where web/voice-sync.js starts it: at the `speech` message's `t_ms` on the frames' clock (kind-1 frames
  give that clock) plus the page's 150 ms playout delay, never before it arrived. `barge_in` duck lowers
  it (`duck_db`), resume restores it, stop (or an interrupted `reply_end`) cuts it.
- The echo: the loudspeaker's output through a room impulse response (one delayed tap, attenuated, and an
  exponentially decaying reverb tail), overlap-added by FFT every 20 ms; none with headphones.
- The microphone: echo + the user's recordings placed at chosen samples + a little room noise, sent as
  20 ms `mic` messages in real time (each when a microphone would have had it), so media time and the
  wall clock agree: sample s is due at `start + s / 16000`.

The server runs in a child process (`served`), so this client's Python does not share its interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from server.hearing.ear import resample
from server.hearing.vad import SAMPLE_RATE

STEP = 320  # 20 ms per mic message
PLAYOUT_S = 0.150  # web/voice-sync.js PLAYOUT_DELAY_MS
NOISE_DBFS = -60.0  # room noise at the microphone (RMS)


def first_voiced(audio: np.ndarray) -> int:
    """The recording's first sample above -40 dBFS: where the user starts talking (a label, not a guess)."""
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return int(loud[0]) if len(loud) else 0


def impulse(delay_s: float, gain_db: float, rng: np.random.Generator, rt60_s: float = 0.3) -> np.ndarray:
    """A room's echo path: the direct tap at `delay_s` and `gain_db`, then a diffuse tail 10 dB below it
    decaying 60 dB in `rt60_s` (a small furnished room)."""
    d = int(delay_s * SAMPLE_RATE)
    n = int(rt60_s * SAMPLE_RATE)
    tail = rng.normal(0, 1, n) * 10 ** (-3 * np.arange(n) / n)
    tail *= 10 ** (-10 / 20) / np.sqrt(np.sum(tail**2))
    h = np.zeros(d + 40 + n)
    h[d] = 1.0
    h[d + 40 :] = tail  # the first reflection 2.5 ms after the direct sound
    return (h * 10 ** (gain_db / 20)).astype(np.float32)


def decode_opus(payload: bytes) -> np.ndarray:
    import soundfile

    data, rate = soundfile.read(io.BytesIO(payload), dtype="float32", always_2d=True)
    return resample(data.mean(axis=1), rate)


@dataclass
class Reply:
    reply_id: int
    started: float  # loop time of reply_start
    source: str = ""
    first_text: float | None = None
    first_audio: float | None = None
    first_play: int | None = None  # mic sample where its first sentence starts sounding
    play_end: int = 0  # mic sample where its last scheduled sentence ends
    played_s: float = 0.0  # seconds of its audio actually played (not cut)
    end: float | None = None
    status: str = ""
    barge: list[tuple[str, float]] = field(default_factory=list)  # (action, loop time)


class Room:
    """One session's client: connect, `open()`, then `say()` / `speak()`; `events` keeps what arrived."""

    def __init__(self, url: str, *, echo: tuple[float, float] | None, duck_db: float, seed: int) -> None:
        self.url, self.duck = url, 10 ** (-duck_db / 20)
        self.rng = np.random.default_rng(seed)
        self.h = impulse(*echo, self.rng) if echo else None
        self.size = 1 << int(np.ceil(np.log2(STEP + (len(self.h) if self.h is not None else 0))))
        self.hf = np.fft.rfft(self.h, self.size) if self.h is not None else None
        self.out = np.zeros(60 * SAMPLE_RATE, np.float32)  # the loudspeaker's schedule (ungained)
        self.owner = np.zeros(len(self.out), np.int32)  # the reply each scheduled sample belongs to
        self.mic = np.zeros(len(self.out), np.float32)  # the user's recordings, placed
        self.echo = np.zeros(len(self.out), np.float32)  # echo already computed for coming samples
        self.gain: dict[int, float] = {}
        self.replies: dict[int, Reply] = {}
        self.events: list[tuple[float, dict[str, Any]]] = []  # (loop time, JSON message)
        self.pos = 0  # next mic sample to send
        self.clock: float | None = None  # loop time of the frames' t_ms 0
        self.start = 0.0
        self.ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    def set_echo(self, delay_s: float, gain_db: float) -> None:
        """A new echo path (the user moved, the volume changed): from the next block on."""
        self.h = impulse(delay_s, gain_db, self.rng)
        self.size = 1 << int(np.ceil(np.log2(STEP + len(self.h))))
        self.hf = np.fft.rfft(self.h, self.size)

    def _grow(self, n: int) -> None:
        while n > len(self.out):
            for name in ("out", "owner", "mic", "echo"):
                a = getattr(self, name)
                setattr(self, name, np.concatenate([a, np.zeros_like(a)]))

    def now(self) -> int:
        """The mic sample due at this moment."""
        return int((asyncio.get_running_loop().time() - self.start) * SAMPLE_RATE)

    async def open(self, headphones: bool, voice: bool = True) -> None:
        import websockets

        self.ws = await websockets.connect(self.url, max_size=1 << 22)
        if voice:
            await self.ws.send(json.dumps({"type": "set_voice", "enabled": True}))
        await self.ws.send(json.dumps({"type": "listen", "mode": "auto", "headphones": headphones}))
        self.start = asyncio.get_running_loop().time()
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._stream())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.close()

    @property
    def alive(self) -> bool:
        return not any(task.done() for task in self._tasks)

    def check(self) -> None:
        """Raise (TimeoutError, with the cause) if the socket's reader or the microphone has stopped."""
        for task in self._tasks:
            if task.done():
                raise TimeoutError(f"the session stopped: {task.exception() if not task.cancelled() else ''}")

    async def until(self, sample: int, timeout: float = 120.0) -> None:
        """Wait until the microphone has sent `sample`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.pos < sample:
            self.check()
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the microphone is stuck at {self.pos}")
            await asyncio.sleep(0.05)

    def say(self, audio: np.ndarray, at: int) -> None:
        """The user's recording, starting at mic sample `at` (in the future)."""
        self._grow(at + len(audio))
        self.mic[at : at + len(audio)] += audio

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def _stream(self) -> None:
        from server.protocol.frames import encode_mic, pcm16

        loop, seq = asyncio.get_running_loop(), 0
        noise = 10 ** (NOISE_DBFS / 20)
        while True:
            a, b = self.pos, self.pos + STEP
            self._grow(b + self.size)
            played, owner = self.out[a:b].copy(), self.owner[a:b]
            for r in set(owner.tolist()) - {0}:
                mine, gain = owner == r, self.gain.get(r, 1.0)
                played[mine] *= gain
                self.replies[r].played_s += float(np.sum(mine)) / SAMPLE_RATE if gain else 0.0
            if self.hf is not None and played.any():  # overlap-add this block's echo into the coming ones
                self.echo[a : a + self.size] += np.fft.irfft(np.fft.rfft(played, self.size) * self.hf)
            block = self.echo[a:b] + self.mic[a:b] + self.rng.normal(0, noise, STEP).astype(np.float32)
            # Sent when a microphone would have its last sample: sample s is never sent before its time.
            await asyncio.sleep(max(0.0, self.start + b / SAMPLE_RATE - loop.time()))
            await self.ws.send(encode_mic(seq, pcm16(block)))
            seq, self.pos = seq + 1, b

    async def _read(self) -> None:
        from server.protocol.frames import AUDIO_KIND, FRAME_KIND, decode_audio

        loop, pending = asyncio.get_running_loop(), {}
        async for raw in self.ws:
            now = loop.time()
            if isinstance(raw, bytes):
                if raw[0] == FRAME_KIND:  # the frames' clock, as the page follows it
                    zero = now - int.from_bytes(raw[6:10], "little") / 1000
                    self.clock = zero if self.clock is None else min(self.clock, zero)
                elif raw[0] == AUDIO_KIND:
                    reply_id, sentence, payload = decode_audio(raw)
                    reply = self.replies.get(reply_id)
                    if reply is not None:
                        reply.first_audio = reply.first_audio or now
                        self._play(reply, decode_opus(payload), pending.pop((reply_id, sentence), now))
                continue
            msg = json.loads(raw)
            self.events.append((now, msg))
            kind, rid = msg["type"], msg.get("reply_id")
            if kind == "reply_start":
                self.replies[rid] = Reply(rid, now, msg["source"])
            elif kind == "text" and rid in self.replies:
                self.replies[rid].first_text = self.replies[rid].first_text or now
            elif kind == "speech":
                due = (self.clock or now) + msg["t_ms"] / 1000 + PLAYOUT_S
                pending[(rid, msg["sentence"])] = due
            elif kind == "barge_in" and rid in self.replies:
                self.replies[rid].barge.append((msg["action"], now))
                self.gain[rid] = {"duck": self.duck, "resume": 1.0, "stop": 0.0}[msg["action"]]
            elif kind == "reply_end" and rid in self.replies:
                self.replies[rid].end, self.replies[rid].status = now, msg["status"]
                if msg["status"] != "complete":
                    self.gain[rid] = 0.0

    def _play(self, reply: Reply, audio: np.ndarray, due: float) -> None:
        if self.gain.get(reply.reply_id, 1.0) == 0.0:
            return
        at = max(self.pos + STEP, int((due - self.start) * SAMPLE_RATE), reply.play_end)  # never overlapping
        self._grow(at + len(audio) + self.size)
        reply.play_end = at + len(audio)
        self.out[at : at + len(audio)] = audio
        self.owner[at : at + len(audio)] = reply.reply_id
        reply.first_play = reply.first_play if reply.first_play is not None else at

    async def wait(self, kind: str, since: int = 0, timeout: float = 60.0, **match: Any) -> dict[str, Any]:
        """The first `kind` message (matching `match`) among events[since:], waited for."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            self.check()
            for _t, msg in self.events[since:]:
                if msg["type"] == kind and all(msg.get(k) == v for k, v in match.items()):
                    return msg
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no {kind} {match} within {timeout} s")


def _serve(values: dict[str, Any], warm_up: bool, port: Any, stop: Any) -> None:
    from server.app import create_app
    from server.runner import LiveServer
    from server.settings import Settings

    parent = os.getppid()
    with LiveServer(create_app(Settings(**values), warm_up=warm_up)) as server:
        port.put(server.ws_url)
        while not stop.wait(1.0) and os.getppid() == parent:  # ends with the bench, even a killed one
            pass


@dataclass(frozen=True)
class Served:
    url: str
    pid: int

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process (all its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def served(values: dict[str, Any], warm_up: bool = False) -> Iterator[Served]:
    """A real Mien server in a child process (spawned: its own interpreter)."""
    ctx = multiprocessing.get_context("spawn")
    port, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(values, warm_up, port, stop), daemon=True)
    child.start()
    try:
        yield Served(port.get(timeout=300), child.pid or 0)
    finally:
        stop.set()
        child.join(30)
        if child.is_alive():
            child.terminate()
