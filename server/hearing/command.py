"""`mien transcribe FILE`: a recording through the same hearing a microphone gets (turns, then Whisper)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from typing import Any

from server.hearing import asr
from server.hearing.vad import SAMPLE_RATE
from server.protocol.frames import encode_mic, pcm16


def _transcribe(args: argparse.Namespace) -> int:
    from server.hearing.ear import hear_file

    try:
        heard = hear_file(args.file, args.model)
    except asr.AsrUnavailable as e:
        print(f"mien transcribe: {e}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as e:  # not a file soundfile reads, or unreadable
        print(f"mien transcribe: cannot read {args.file}: {e}", file=sys.stderr)
        return 1
    if args.json:
        turns = [
            {
                "start": round(h.start, 3),
                "end": round(h.end, 3),
                "text": h.transcript.text,
                "words": [  # times in the file, not in the turn's audio
                    {**asdict(w), "start": round(h.offset + w.start, 3), "end": round(h.offset + w.end, 3)}
                    for w in h.transcript.words
                ],
                "dropped": list(h.transcript.dropped),
            }
            for h in heard
        ]
        print(json.dumps({"file": str(args.file), "model": args.model, "turns": turns}))
    else:
        for h in heard:
            if h.transcript.text:
                print(f"[{h.start:7.2f}-{h.end:7.2f}] {h.transcript.text}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("transcribe", help="print what is said in a recording (WAV, FLAC, OGG, MP3), offline")
    p.add_argument("file")
    p.add_argument("--model", default=asr.DEFAULT_MODEL, help=f"speech model (default {asr.DEFAULT_MODEL})")
    p.add_argument("--json", action="store_true", help="turns with words and times, as one JSON object")
    p.set_defaults(run=_transcribe)


async def stream_file(ws: Any, path: str, piece_s: float = 0.02) -> None:
    """Send a recording into a Mien websocket as a microphone would: push-to-talk open, 20 ms pieces of
    16 kHz audio at the pace they would be spoken (by the samples' clock), then the mic closed."""
    from server.hearing.ear import read_audio

    audio = await asyncio.to_thread(read_audio, path)
    pcm = pcm16(audio)
    step = round(piece_s * SAMPLE_RATE)
    await ws.send(json.dumps({"type": "listen", "mode": "push"}))
    loop = asyncio.get_running_loop()
    start = loop.time()
    for seq, i in enumerate(range(0, len(pcm), step)):
        await ws.send(encode_mic(seq, pcm[i : i + step]))
        await asyncio.sleep(max(0.0, start + (i + step) / SAMPLE_RATE - loop.time()))  # real time
    await ws.send(json.dumps({"type": "listen", "mode": "off"}))
