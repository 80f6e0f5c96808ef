"""Measurements that print numbers (`--json` for machines). Run against a real server in this process.

python -m bench.server cadence [--json]   frame intervals at the client while the local model generates
python -m bench.server wire [--json]      frame bytes per second on the wire (websocket framing included)
python -m bench.server wire --simulated   the same encoder over simulated time (no server, deterministic)
python -m bench.server tags [--json]      tag parser throughput; chunk in -> its cue on the wire
python -m bench.server speech [--json]    first sentence complete -> its audio leaving the server (and at
                                          the client), with and without the embedded model generating
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import numpy as np

from animation.arkit import N_CHANNELS
from animation.engine import FaceBank
from server.protocol.frames import encode_frame, quantize
from server.settings import Settings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# A conversation-like script: replies with tags, an untagged sentence, and "show" presses.
SCRIPT = [
    ("speak", "[joy] That's wonderful news! I'm so happy for you."),
    ("set_emotion", "surprise"),
    ("speak", "[sadness:0.6] Oh no, I'm sorry to hear that. [thinking] Let me think."),
    ("set_emotion", "anger"),
    ("speak", "[confusion] Wait, what do you mean? [joy:0.5] Ah, I see!"),
]


def ws_frame_bytes(payload: int) -> int:
    """Server-to-client websocket frame size (unmasked): 2-byte header, +2 or +8 for longer payloads."""
    return payload + (2 if payload < 126 else 4 if payload < 65536 else 10)


def simulated_wire(seconds: float = 60.0, fps: float = 30.0, seed: int = 0) -> dict[str, Any]:
    """Bytes per second of the frame stream over simulated time, cues as in SCRIPT (no clock read)."""
    bank = FaceBank(seed=seed)
    slot = bank.add(0.0)
    last = np.zeros(N_CHANNELS, dtype=np.int32)
    total = 0
    n = int(seconds * fps)
    for i in range(n):
        t = i / fps
        if i % int(4 * fps) == 0:  # a cue every 4 s, cycling through the script's emotions
            kind, arg = SCRIPT[(i // int(4 * fps)) % len(SCRIPT)]
            emotion = arg if kind == "set_emotion" else arg.split("]")[0].strip("[").split(":")[0]
            bank.cue(slot, emotion, 0.9, t)
            bank.set_talking(slot, kind == "speak")
        q = quantize(bank.step(t)[slot])
        total += ws_frame_bytes(len(encode_frame(i, round(t * 1000), q, last)))
        last = q
    return {
        "mode": "simulated",
        "seconds": seconds,
        "fps": fps,
        "frames": n,
        "bytes_per_second": total / seconds,
        "bytes_per_frame": total / n,
    }


async def live_wire(seconds: float) -> dict[str, Any]:
    """A real server and a real websocket client; counts every binary frame's wire bytes."""
    import websockets

    from server.app import create_app
    from server.runner import LiveServer

    with LiveServer(create_app(Settings(), warm_up=False)) as server:
        url = server.ws_url
        frame_bytes = json_bytes = frames = 0
        seqs: list[int] = []
        async with websockets.connect(url) as ws:
            start = time.monotonic()
            step = 0
            next_cue = start
            while (now := time.monotonic()) - start < seconds:
                if now >= next_cue:
                    kind, arg = SCRIPT[step % len(SCRIPT)]
                    message = (
                        {"type": kind, "text": arg}
                        if kind == "speak"
                        else {"type": kind, "emotion": arg, "intensity": 0.9}
                    )
                    await ws.send(json.dumps(message))
                    step += 1
                    next_cue += 4.0
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=max(0.01, next_cue - time.monotonic()))
                except TimeoutError:
                    continue
                if isinstance(raw, bytes):
                    frames += 1
                    frame_bytes += ws_frame_bytes(len(raw))
                    seqs.append(int.from_bytes(raw[2:6], "little"))
                else:
                    json_bytes += ws_frame_bytes(len(raw.encode()))
            elapsed = time.monotonic() - start
    return {
        "mode": "live",
        "seconds": round(elapsed, 2),
        "frames": frames,
        "fps": frames / elapsed,
        "bytes_per_second": frame_bytes / elapsed,
        "bytes_per_frame": frame_bytes / max(1, frames),
        "json_bytes_per_second": json_bytes / elapsed,
        "frames_dropped": (seqs[-1] - seqs[0] + 1 - len(seqs)) if seqs else 0,
    }


async def cadence(message: str, max_tokens: int) -> dict[str, Any]:
    """Frame arrival intervals at a client while the embedded model generates a reply."""
    import websockets

    from server.app import create_app
    from server.runner import LiveServer

    settings = Settings(max_tokens=max_tokens)
    with LiveServer(create_app(settings)) as server:
        url = server.ws_url
        async with websockets.connect(url) as ws:
            arrivals: list[float] = []
            generating = False
            tokens = 0
            await ws.send(json.dumps({"type": "user_message", "text": message}))
            async for raw in ws:
                if isinstance(raw, bytes):
                    if generating:
                        arrivals.append(time.monotonic())
                    continue
                msg = json.loads(raw)
                if msg["type"] == "text":
                    generating = True
                    tokens += 1
                elif msg["type"] == "reply_end":
                    break
    intervals = np.diff(np.array(arrivals)) * 1000
    if intervals.size == 0:
        return {"error": "no frames while generating"}
    return {
        "fps": settings.fps,
        "frames": int(intervals.size + 1),
        "text_messages": tokens,
        "interval_ms_p50": round(float(np.percentile(intervals, 50)), 2),
        "interval_ms_p99": round(float(np.percentile(intervals, 99)), 2),
        "interval_ms_max": round(float(intervals.max()), 2),
        "target_p99_ms": 50,
    }


def tag_throughput(megabytes: float = 4.0, chunk: int = 16) -> dict[str, Any]:
    """TagParser speed on model-like text (tags, stage directions, brackets, emoji) in small chunks."""
    from server.reply.tags import TagParser

    unit = (
        "[joy] That's wonderful news! *smiles* I knew you could do it [surprise:0.6] really. "
        "See [1] and (laughs) the [docs](https://example.com) 😀 then `code [x]` here.\n"
    )
    text = unit * max(1, int(megabytes * 1_000_000 / len(unit.encode())))
    parser = TagParser()
    start = time.perf_counter()
    events = 0
    for i in range(0, len(text), chunk):
        events += len(parser.push(text[i : i + chunk]))
    events += len(parser.flush())
    elapsed = time.perf_counter() - start
    size = len(text.encode()) / 1e6
    return {
        "megabytes": round(size, 2),
        "chunk_chars": chunk,
        "seconds": round(elapsed, 3),
        "mb_per_second": round(size / elapsed, 2),
        "events": events,
    }


async def cue_latency(n: int = 200) -> dict[str, Any]:
    """Time from a chunk entering the server (a scripted line) to its emotion cue on the wire, measured
    at a loopback client: an upper bound that includes the client's send."""
    import websockets

    from server.app import create_app
    from server.runner import LiveServer

    delays: list[float] = []
    with LiveServer(create_app(Settings(data_dir=None), warm_up=False)) as server:
        async with websockets.connect(server.ws_url) as ws:
            for i in range(n):
                sent = time.perf_counter()
                await ws.send(json.dumps({"type": "speak", "text": f"[joy:0.{i % 9 + 1}] Cue {i}."}))
                async for raw in ws:
                    if isinstance(raw, str) and json.loads(raw)["type"] == "emotion":
                        delays.append((time.perf_counter() - sent) * 1000)
                        break
    d = np.array(delays)
    return {
        "cues": len(delays),
        "delay_ms_p50": round(float(np.percentile(d, 50)), 3),
        "delay_ms_p99": round(float(np.percentile(d, 99)), 3),
        "target_p99_ms": 5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cadence")
    c.add_argument("--message", default="Tell me a long story about a lighthouse keeper.")
    c.add_argument("--max-tokens", type=int, default=256)
    c.add_argument("--json", action="store_true")
    w = sub.add_parser("wire")
    w.add_argument("--seconds", type=float, default=20.0)
    w.add_argument("--simulated", action="store_true")
    w.add_argument("--json", action="store_true")
    t = sub.add_parser("tags")
    t.add_argument("--json", action="store_true")
    sp = sub.add_parser("speech", help="time to first audio (bench.speech)")
    sp.add_argument("--runs", type=int, default=15, help="scripted replies")
    sp.add_argument("--model-runs", type=int, default=15, help="replies from the embedded model (0: none)")
    sp.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.what == "speech":
        from bench.speech import speech_latency

        result = asyncio.run(speech_latency(args.runs, args.model_runs))
    elif args.what == "tags":
        result = {**tag_throughput(), **asyncio.run(cue_latency())}
    elif args.what == "cadence":
        result = asyncio.run(cadence(args.message, args.max_tokens))
    elif args.simulated:
        result = simulated_wire(args.seconds)
    else:
        result = asyncio.run(live_wire(args.seconds))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value:.2f}" if isinstance(value, float) else f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
