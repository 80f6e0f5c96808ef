"""`python -m bench.prosody [--json] [--voice piper|espeak] [--runs N]`: how each emotion sounds.

The same sentences spoken in every emotion at intensity 1 (and neutral), by the offline voice sessions get,
measured from the audio with tools Mien did not write:
- duration_s: the sentences' audio, summed;
- f0_hz: the median F0 over all their voiced frames, by WORLD's DIO + StoneMask (pyworld); with --runs > 1
  the lowest and highest of the runs' medians too (Piper draws sampling noise each run: is it stable?);
- rms_dbfs: the RMS level, and lufs: integrated loudness (ITU-R BS.1770-4, pyloudnorm), of the joined audio;
- vs_neutral: duration, F0 and level relative to neutral (x, x, dB).
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np

from server.voice.prosody import prosody, table

SENTENCES = (
    "I really did not expect to see you here today.",
    "The letter arrived this morning, and I read it twice.",
    "We will have to talk about what happened.",
)
F0_RANGE = (60.0, 400.0)  # Hz: the trackers' search range (Piper's joe speaks ~90-300 Hz)


def voiced_f0(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """F0 (Hz) of the voiced 5 ms frames: pyworld's DIO refined by StoneMask."""
    import pyworld

    x = np.ascontiguousarray(audio, np.float64)
    f0, times = pyworld.dio(x, sample_rate, f0_floor=F0_RANGE[0], f0_ceil=F0_RANGE[1], frame_period=5.0)
    f0 = pyworld.stonemask(x, f0, times, sample_rate)
    return f0[f0 > 0]


def median_f0(audio: np.ndarray, sample_rate: int) -> float:
    voiced = voiced_f0(audio, sample_rate)
    return float(np.median(voiced)) if len(voiced) else float("nan")


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level in dB relative to a full-scale square wave (silence included, as spoken)."""
    x = np.asarray(audio, np.float64)
    return float(20 * np.log10(max(np.sqrt(np.mean(x**2)) if len(x) else 0.0, 1e-9)))


def lufs(audio: np.ndarray, sample_rate: int) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(np.asarray(audio, np.float64)))


def measure(engine: str, runs: int) -> dict[str, object]:
    from server.voice import Voices

    voice = Voices().get(engine)
    rows: dict[str, dict[str, object]] = {}
    for emotion in table():
        p = prosody(emotion, 1.0)
        medians, duration, joined = [], 0.0, np.zeros(0, np.float32)
        for _ in range(runs):
            spoken = [voice.synthesize(s, p) for s in SENTENCES]
            joined = np.concatenate([s.audio for s in spoken])
            duration = sum(s.duration for s in spoken)
            medians.append(
                float(np.median(np.concatenate([voiced_f0(s.audio, s.sample_rate) for s in spoken])))
            )
        rate = voice.sample_rate
        row: dict[str, object] = {
            "rate": p.rate,
            "pitch": p.pitch,
            "gain_db": p.gain_db,
            "duration_s": round(duration, 3),
            "f0_hz": round(statistics.median(medians), 1),
            "rms_dbfs": round(rms_dbfs(joined), 2),
            "lufs": round(lufs(joined, rate), 2),
        }
        if runs > 1:
            row["f0_runs_hz"] = [round(min(medians), 1), round(max(medians), 1)]
        rows[emotion] = row
    base = rows["neutral"]
    for row in rows.values():
        row["vs_neutral"] = [
            round(float(row["duration_s"]) / float(base["duration_s"]), 3),  # type: ignore[arg-type]
            round(float(row["f0_hz"]) / float(base["f0_hz"]), 3),  # type: ignore[arg-type]
            round(float(row["rms_dbfs"]) - float(base["rms_dbfs"]), 2),  # type: ignore[arg-type]
        ]
    return {"voice": voice.name, "sentences": list(SENTENCES), "runs": runs, "emotions": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prosody", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--voice", choices=("piper", "espeak"), default="piper", help="offline engine")
    parser.add_argument("--runs", type=int, default=3, help="syntheses per emotion (F0 stability)")
    args = parser.parse_args(argv)
    result = measure(args.voice, max(1, args.runs))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"voice {result['voice']}, {len(SENTENCES)} sentences, {result['runs']} run(s), intensity 1")
    print(f"{'emotion':<10} {'rate':>5} {'pitch':>5} {'gain':>5} {'dur s':>6} {'F0 Hz':>6} {'F0 runs':>13} "
          f"{'RMS dBFS':>8} {'LUFS':>6}   vs neutral (dur x, F0 x, dB)")  # fmt: skip
    for emotion, row in result["emotions"].items():  # type: ignore[attr-defined]
        spread = "-".join(f"{v:g}" for v in row.get("f0_runs_hz", []))
        print(
            f"{emotion:<10} {row['rate']:>5.3g} {row['pitch']:>5.3g} {row['gain_db']:>+5.1f} "
            f"{row['duration_s']:>6.2f} {row['f0_hz']:>6.1f} {spread:>13} {row['rms_dbfs']:>8.2f} "
            f"{row['lufs']:>6.1f}   {row['vs_neutral']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
