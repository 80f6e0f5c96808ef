"""Speech input, measured: word error rate on real recordings, end of speech -> final transcript through a
real server in real time, transcripts invented from noise, and the CPU a listening session costs.

    .venv/bin/python -m bench.hearing [--dir DIR] [--utterances N] [--live N] [--json]

Real speech: the Asterisk core prompts (Allison Smith, CC-BY-SA 3.0) from Debian's
`asterisk-core-sounds-en-g722` with their texts from `asterisk-core-sounds-en` (`apt-get install` both);
without them, the ten committed in tests/server/data/speech. End of speech is the recording's own last
sample above -40 dBFS (media time), not the detector's decision.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from server.hearing import asr
from server.hearing.ear import Ear, read_audio
from server.hearing.turns import TurnEnded
from server.hearing.vad import SAMPLE_RATE, Listener

ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
COMMITTED = Path(__file__).resolve().parents[1] / "tests" / "server" / "data" / "speech"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower().replace("-", " "))


def edits(ref: list[str], hyp: list[str]) -> int:
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)]


def corpus(limit: int) -> list[tuple[str, np.ndarray, str]]:
    """(name, 16 kHz audio, text): prompts of plain words (no digits, tones or trailing fragments)."""
    out: list[tuple[str, np.ndarray, str]] = []
    if ASTERISK.is_dir() and TEXTS.is_file():
        import av

        with gzip.open(TEXTS, "rt") as f:
            lines = f.readlines()
        for line in lines:
            name, _, text = line.partition(":")
            text = text.strip()
            path = ASTERISK / f"{name.strip()}.g722"
            if line.startswith(";") or not path.is_file() or re.search(r"[\[\d#*.]{2}|\[|\d|\.\.\.", text):
                continue
            with av.open(str(path), format="g722") as f:
                audio = np.concatenate([fr.to_ndarray().ravel() for fr in f.decode(audio=0)])
            out.append((name.strip(), audio.astype(np.float32) / 32768, text))
            if len(out) >= limit:
                break
        return out
    rows = (COMMITTED / "transcripts.tsv").read_text().splitlines()[1:]
    return [(f, read_audio(COMMITTED / f), t) for f, t in (r.split("\t") for r in rows)][:limit]


def speech_end(audio: np.ndarray) -> int:
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return int(loud[-1]) + 1 if len(loud) else 0


def accuracy(utterances: list[tuple[str, np.ndarray, str]], model: str) -> dict[str, Any]:
    total = wrong = 0
    seconds = []
    for _name, audio, text in utterances:
        t0 = time.perf_counter()
        heard = asr.transcribe(audio, model)
        seconds.append(time.perf_counter() - t0)
        ref = words(text)
        total, wrong = total + len(ref), wrong + edits(ref, words(heard.text))
    return {
        "utterances": len(utterances),
        "words": total,
        "wer": round(wrong / max(1, total), 4),
        "transcribe_s": {"p50": round(statistics.median(seconds), 3), "max": round(max(seconds), 3)},
    }


def noise(seconds: float) -> dict[str, Any]:
    """Hiss, pink noise, a hum and chords (synthetic music) through the ear and Whisper: transcripts kept."""
    rng = np.random.default_rng(0)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    pink = np.cumsum(rng.normal(0, 1, n)).astype(np.float32)
    pink = (pink - np.convolve(pink, np.ones(400) / 400, "same")) * 0.01
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t)
    chords = sum(np.sin(2 * np.pi * f * t) * swell for f in (262, 330, 392))
    sources = {
        "hiss": rng.normal(0, 0.03, n),
        "pink": pink,
        "hum": 0.2 * np.sin(2 * np.pi * 50 * t),
        "chords": 0.1 * chords,
    }
    result: dict[str, Any] = {}
    for name, audio in sources.items():
        ear = Ear()
        events = [e for i in range(0, n, 320) for e in ear.feed(np.asarray(audio[i : i + 320], np.float32))]
        events += ear.close()
        turns = [e for e in events if isinstance(e, TurnEnded)]
        kept = [h.text for h in (asr.transcribe(e.audio) for e in turns) if h.text]
        result[name] = {"seconds": seconds, "turns": len(turns), "transcripts": kept}
    return result


def vad_cost(seconds: float = 30.0) -> dict[str, float]:
    audio = np.random.default_rng(1).normal(0, 0.01, int(seconds * SAMPLE_RATE)).astype(np.float32)
    listener = Listener()
    t0 = time.process_time()
    for i in range(0, len(audio), 320):
        listener.feed(audio[i : i + 320])
    cpu = time.process_time() - t0
    share = cpu / seconds
    return {"cpu_share_per_listening_session": round(share, 4), "sessions_per_core": round(1 / share)}


async def live(utterances: list[tuple[str, np.ndarray, str]]) -> dict[str, Any]:
    """Each utterance streamed in real time into a real server: end of speech -> final transcript."""
    import tempfile

    import websockets

    from server.app import create_app
    from server.protocol.frames import encode_mic, pcm16
    from server.runner import LiveServer
    from server.settings import Settings

    latencies = []
    with tempfile.TemporaryDirectory() as data:
        settings = Settings().with_values({"data_dir": data}, source="bench")
        with LiveServer(create_app(settings, warm_up=False)) as server:
            async with websockets.connect(server.ws_url, max_size=1 << 22) as ws:
                finals: asyncio.Queue[float] = asyncio.Queue()
                loop = asyncio.get_running_loop()

                async def read() -> None:
                    async for raw in ws:
                        if isinstance(raw, str) and '"transcript"' in raw and json.loads(raw)["final"]:
                            finals.put_nowait(loop.time())

                reader = asyncio.create_task(read())
                await ws.send(json.dumps({"type": "listen", "mode": "auto"}))
                for _name, audio, _text in utterances:
                    lead, tail = np.zeros(8000, np.float32), np.zeros(3 * SAMPLE_RATE, np.float32)
                    pcm = pcm16(np.concatenate([lead, audio, tail]))
                    end = len(lead) + speech_end(audio)
                    start = loop.time()
                    ended_at = start + end / SAMPLE_RATE  # when a microphone would have had its last sound
                    for seq, i in enumerate(range(0, len(pcm), 320)):  # the whole clip, in real time
                        await ws.send(encode_mic(seq, pcm[i : i + 320]))
                        await asyncio.sleep(max(0.0, start + (i + 320) / SAMPLE_RATE - loop.time()))
                    # A pause inside a prompt may end a turn early: the first final after its end counts.
                    arrived = []
                    while not finals.empty():
                        arrived.append(finals.get_nowait())
                    after = [t for t in arrived if t >= ended_at]
                    if after:
                        latencies.append(after[0] - ended_at)
                    await ws.send(json.dumps({"type": "stop"}))  # the reply is not what is measured here
                reader.cancel()
    ms = sorted(x * 1000 for x in latencies)
    return {"utterances": len(ms), "p50_ms": round(ms[len(ms) // 2]), "max_ms": round(ms[-1])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--utterances", type=int, default=200, help="for the word error rate (default 200)")
    p.add_argument("--live", type=int, default=10, help="streamed through a server in real time (default 10)")
    p.add_argument("--noise-seconds", type=float, default=60.0)
    p.add_argument("--model", default=asr.DEFAULT_MODEL)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    utterances = corpus(args.utterances)
    result = {
        "corpus": "asterisk-core-sounds-en (Debian)" if ASTERISK.is_dir() else "tests/server/data/speech",
        "model": args.model,
        "accuracy": accuracy(utterances, args.model),
        "noise": noise(args.noise_seconds),
        "vad": vad_cost(),
        "end_of_speech_to_final_transcript": asyncio.run(live(utterances[: args.live]))
        if args.live
        else None,
    }
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
