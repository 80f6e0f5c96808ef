"""One `mien loadtest` worker process: an asyncio loop running many websocket sessions (bench/loadtest.py
starts several, so the generator is not limited to one core).

Per frame a session reads only the header's seq and t_ms and the arrival time on the monotonic clock
(which every process shares, so the schedule the parent sends is valid here); gaps go into fixed-bin
histograms that merge across workers. Text is checked as it streams: every delta of a reply in order and
contiguous, the reply's final text equal to the deltas joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import struct
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import uvloop

from bench.loadtest_ws import WsClient, connect
from server.protocol.frames import AUDIO_KIND, FRAME_KIND

_unpack = struct.Struct("<II").unpack_from  # seq, t_ms after the kind and flags (docs/protocol.md)
_monotonic = time.monotonic
GAP_BIN_MS = 0.1  # arrival gaps: 0.1 ms bins up to GAP_BINS * 0.1 ms; longer ones are kept as values
GAP_BINS = 20_000
MEDIA_BINS = 2_000  # media-time gaps (t_ms differences): 1 ms bins

# Scripted lines of about five seconds each when spoken (tags are the face's; the text is checked).
LINES = (
    "[joy] Thanks so much for coming by today! [thinking] I was just wondering what you would like to talk "
    "about next.",
    "[surprise:0.6] Oh, that is a lovely idea, really. [joy:0.7] Let us try it together this afternoon and "
    "see how it goes.",
    "[sadness:0.5] I am sorry the week was so hard for you. [thinking] Maybe tomorrow will be a little "
    "easier, and brighter too.",
    "[confusion] Wait, which one did you mean, the red one? [joy:0.5] Ah, now I see it, and that makes "
    "perfect sense to me.",
)
NAMES = ("Ada", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kofi", "Lena")
USER_LINES = ("Tell me something cheerful.", "What do you think about the sea?", "I got the job!")


@dataclass(frozen=True)
class Plan:
    """What every worker runs; times are on the monotonic clock."""

    url: str
    mode: str  # idle | chatting | speaking
    sessions: int  # in the whole run (indices are spread over the workers)
    rate: float  # connections per second, all workers together
    every: float  # s between messages (chatting) or spoken lines (speaking)
    scripted: bool  # chatting sends `speak`, not `user_message`
    spread: bool  # each session from its own 127.x.y.z address: its own visitor for the server's limits
    compression: bool
    distinct: bool = False  # scripted lines made unique per session and turn (nothing can be reused)
    t0: float = 0.0  # the first connection
    window_start: float = 0.0  # measurement window (after the ramp); relative to t0 until `worker`
    window_end: float = 0.0


class Stats:
    """One worker's figures; `result()` is what it sends back (plain data, merged by the parent)."""

    def __init__(self) -> None:
        self.gaps = [0] * GAP_BINS
        self.gap_overflow: list[float] = []
        self.gap_max = 0.0
        self.media = [0] * MEDIA_BINS
        self.media_overflow: list[int] = []
        self.connect_ms: list[float] = []
        self.fps: list[float] = []
        self.first_text_ms: list[float] = []
        self.first_audio_ms: list[float] = []
        self.errors: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()

    def result(self, cpu_window: float, cpu_total: float) -> dict[str, Any]:
        counters = {"errors": dict(self.errors), "counts": dict(self.counts)}
        return {**vars(self), **counters, "cpu_window": cpu_window, "cpu_total": cpu_total}


def source_address(i: int) -> str:
    """A distinct loopback address per session (all of 127/8 reaches the local host on Linux)."""
    return f"127.{1 + i // 62_500}.{(i // 250) % 250}.{i % 250 + 1}"


class Session:
    def __init__(self, i: int, plan: Plan, stats: Stats) -> None:
        self.i, self.plan, self.stats = i, plan, stats
        self.window_start = plan.window_start
        self.hello: asyncio.Future[bool] = asyncio.get_running_loop().create_future()  # False: refused
        self.connected: float | None = None  # when hello arrived
        self.frames = 0  # frames in the measurement window
        self.last_at: float | None = None  # the last frame's arrival, seq and t_ms
        self.last_seq = self.last_t = 0
        self.reply_id: int | None = None
        self.parts: list[str] = []
        self.offset = 0
        self.sent_at: float | None = None  # the last message sent, until its first text arrives
        self.audio_wait: float | None = None  # the last line sent (voice on), until its first audio

    async def run(self) -> None:
        plan, stats = self.plan, self.stats
        await _sleep_until(plan.t0 + self.i / plan.rate)
        address = (source_address(self.i), 0) if plan.spread else None
        started = time.monotonic()
        ws: WsClient | None = None
        sender = None
        try:
            async with asyncio.timeout_at(plan.window_end):
                ws = await connect(
                    plan.url, self.on_binary, self.on_text, compression=plan.compression, local_addr=address
                )
                await asyncio.wait([self.hello, ws.lost], return_when=asyncio.FIRST_COMPLETED)
                if self.hello.done() and self.hello.result():
                    assert self.connected is not None
                    stats.connect_ms.append((self.connected - started) * 1000)
                    if plan.mode != "idle":
                        sender = asyncio.create_task(self._send(ws, self.connected))
                await asyncio.shield(ws.lost)  # (a cancelled await would cancel the future)
            if self.connected is not None:  # the server closed the socket before the run's end
                stats.errors[f"closed:{ws.close_code or 'no_close_frame'}"] += 1
            elif not self.hello.done():
                stats.errors["closed_before_hello"] += 1
        except TimeoutError:  # the run is over (the normal end)
            if not self.hello.done():
                stats.errors["no_hello_before_end"] += 1
        except OSError as e:  # refused, reset, a failed handshake
            stats.errors[f"connect:{type(e).__name__}"] += 1
        finally:
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender
            if ws is not None:
                await ws.close()
        begin = max(plan.window_start, self.connected or plan.window_end)
        span = plan.window_end - begin
        stats.fps.append(self.frames / span if span > 0.5 else 0.0)

    def on_binary(self, raw: bytes) -> None:
        """Every binary message; for frames only the header's seq and t_ms are read."""
        kind = raw[0]
        if kind == FRAME_KIND:
            now = _monotonic()
            seq, t_ms = _unpack(raw, 2)
            last_at = self.last_at
            if last_at is not None and now >= self.window_start:
                stats = self.stats
                self.frames += 1
                gap = now - last_at
                b = int(gap * 10_000)  # 0.1 ms bins
                if b < GAP_BINS:
                    stats.gaps[b] += 1
                else:
                    stats.gap_overflow.append(gap * 1000)
                if gap > stats.gap_max:
                    stats.gap_max = gap
                dt = t_ms - self.last_t
                if 0 <= dt < MEDIA_BINS:
                    stats.media[dt] += 1
                else:
                    stats.media_overflow.append(dt)
                if seq != self.last_seq + 1:
                    stats.counts["frames_skipped"] += seq - self.last_seq - 1
            self.last_at, self.last_seq, self.last_t = now, seq, t_ms
        elif kind == AUDIO_KIND:
            self.stats.counts["audio_messages"] += 1
            self.stats.counts["audio_bytes"] += len(raw)
            if self.audio_wait is not None:
                self.stats.first_audio_ms.append((_monotonic() - self.audio_wait) * 1000)
                self.audio_wait = None
        else:
            self.stats.errors["unknown_binary_kind"] += 1

    def on_text(self, raw: str) -> None:
        try:
            msg = json.loads(raw)
            if self.hello.done():
                self._json(msg)
            elif msg.get("type") == "hello":
                self.connected = _monotonic()
                self.hello.set_result(True)
            else:  # a refusal: one error, then the server closes the socket
                self._json(msg)
                self.hello.set_result(False)
        except Exception as e:  # a message not as the protocol says: counted, the session goes on
            self.stats.errors[f"bad_message:{type(e).__name__}"] += 1

    def _json(self, msg: dict[str, Any]) -> None:
        stats, kind = self.stats, msg.get("type")
        if kind == "text":
            if self.sent_at is not None:
                stats.first_text_ms.append((time.monotonic() - self.sent_at) * 1000)
                self.sent_at = None
            delta = msg["delta"]
            if msg["reply_id"] != self.reply_id or msg["offset"] != self.offset:
                stats.counts["text_out_of_order"] += 1
            self.parts.append(delta)
            self.offset += len(delta)  # code points, as the protocol counts
            stats.counts["text_deltas"] += 1
        elif kind == "reply_start":
            self.reply_id, self.parts, self.offset = msg["reply_id"], [], 0
            stats.counts["replies_started"] += 1
        elif kind == "reply_end":
            if msg["reply_id"] != self.reply_id or msg["text"] != "".join(self.parts):
                stats.counts["text_mismatch"] += 1
            stats.counts[f"replies_{msg['status']}"] += 1
            self.reply_id = None
        elif kind == "speech":
            stats.counts["speech_messages"] += 1
        elif kind == "error":
            stats.errors[f"error:{msg.get('code')}"] += 1
        elif kind == "hello":
            stats.errors["second_hello"] += 1
        stats.counts[f"json:{kind}"] += 1

    async def _send(self, ws: WsClient, connected: float) -> None:
        """Messages on a schedule spread evenly over the sessions (session i's phase is i/N of a period)."""
        plan = self.plan
        speaking = plan.mode == "speaking"
        if speaking:
            ws.send_text(json.dumps({"type": "set_voice", "enabled": True}))
        period = plan.every
        at = plan.t0 + (self.i / plan.sessions) * period
        while at < connected + (1.0 if speaking else 0.0):  # the voice's first load: a second's grace
            at += period
        n = self.i
        while True:
            await _sleep_until(at)
            if speaking or plan.scripted:
                text = LINES[n % len(LINES)]
                if plan.distinct:  # words no other line has: the voice and the emotion reading start afresh
                    text = f"{NAMES[self.i % len(NAMES)]}, {n - self.i + self.i * 7}: {text}"
                message = {"type": "speak", "text": text}
            else:
                message = {"type": "user_message", "text": USER_LINES[n % len(USER_LINES)]}
            now = time.monotonic()
            self.sent_at = now
            if speaking:
                self.audio_wait = now
            ws.send_text(json.dumps(message))
            self.stats.counts["messages_sent"] += 1
            n += 1
            at += period


async def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(plan: Plan, indices: list[int]) -> dict[str, Any]:
    stats = Stats()
    cpu_at: dict[str, float] = {}

    async def mark(name: str, when: float) -> None:
        await _sleep_until(when)
        cpu_at[name] = _cpu()

    marks = [
        asyncio.create_task(mark("start", plan.window_start)),
        asyncio.create_task(mark("end", plan.window_end)),
    ]
    await asyncio.gather(*(Session(i, plan, stats).run() for i in indices))
    await asyncio.gather(*marks)
    return stats.result(cpu_at["end"] - cpu_at["start"], _cpu())


def worker(conn: Any, plan: Plan, indices: list[int]) -> None:
    """A worker process's entry: say ready, take the start time, run, send the figures back."""
    conn.send("ready")
    t0 = conn.recv()
    plan = replace(plan, t0=t0, window_start=t0 + plan.window_start, window_end=t0 + plan.window_end)
    try:
        # uvloop, as uvicorn uses for the server: the tool's own CPU competes with the server's here.
        conn.send(uvloop.run(_run(plan, indices)))
    except Exception as e:  # report rather than vanish: the parent counts it
        conn.send({"failed": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()
