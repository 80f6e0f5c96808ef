"""`python -m bench.voice [--json] [--voice NAME]`: speech synthesis speed (a measurement).

- load_s: loading the voice (once per process).
- rtf: synthesis time / audio duration for a paragraph (median of runs; < 1 is faster than real time).
- first_audio_ms: from handing a reply's first sentence to `voice.stream` until its audio (with
  phoneme and word timings) is ready: the server-side part of time to first audio (median of runs).
- first_audio_stream_ms: the same for the first sentence of a whole paragraph given at once.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

FIRST = "Sure, I would be glad to help with that."
PARAGRAPH = (
    "Sure, I would be glad to help with that. The museum opens at nine in the morning, and the tickets "
    "cost twelve dollars. If you go on a weekday, it is usually quiet before lunch. Would you like me to "
    "suggest a few exhibits worth seeing first?"
)


def measure(engine: str | None, runs: int) -> dict[str, object]:
    from server.voice import Voices

    t = time.perf_counter()
    voice = Voices().get(engine or "auto")  # the engine sessions would get
    load_s = time.perf_counter() - t
    next(voice.stream("Warm up."))  # first run pays one-off allocations: not what a reply sees
    rtfs, first, first_stream = [], [], []
    duration = 0.0
    for _ in range(runs):
        t = time.perf_counter()
        speech = voice.synthesize(PARAGRAPH)
        rtfs.append((time.perf_counter() - t) / speech.duration)
        duration = speech.duration
        t = time.perf_counter()
        next(iter(voice.stream(FIRST)))
        first.append(time.perf_counter() - t)
        t = time.perf_counter()
        it = voice.stream(PARAGRAPH)
        next(it)
        first_stream.append(time.perf_counter() - t)
        it.close()  # the rest of the paragraph is not needed (as when a reply is interrupted)
    return {
        "engine": voice.name,
        "sample_rate": voice.sample_rate,
        "load_s": round(load_s, 3),
        "paragraph_audio_s": round(duration, 2),
        "rtf": round(statistics.median(rtfs), 4),
        "first_audio_ms": round(1000 * statistics.median(first), 1),
        "first_audio_stream_ms": round(1000 * statistics.median(first_stream), 1),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.voice", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--voice", choices=("piper", "espeak"), help="engine (default: the first that loads)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    result = measure(args.voice, max(1, args.runs))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
