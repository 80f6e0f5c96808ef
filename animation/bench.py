"""Measure FaceBank throughput: python -m animation.bench [--faces N] [--seconds S] [--fps F] --json.

A measurement, not an assertion: it simulates N faces for S seconds of animation at F fps, with a
realistic trickle of cues (each face gets a new emotion about every 2 s, a tenth of them talking),
and reports how many face-frames per second of wall time one process computes. The wall clock is
read here, in the harness, never inside the animation code.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from animation.emotions import EMOTIONS
from animation.engine import FaceBank


def run(faces: int, seconds: float, fps: float = 30.0, seed: int = 0) -> dict[str, float | int | str]:
    rng = np.random.default_rng(seed)
    bank = FaceBank(capacity=faces, seed=seed)
    slots = [bank.add(0.0) for _ in range(faces)]
    for s in slots[: max(1, faces // 10)]:
        bank.set_talking(s, True)
    steps = round(seconds * fps)
    # Cue ~1/(2 s) per face: per frame, a random subset of that expected size.
    cues_per_step = faces / (2.0 * fps)
    step_time = cue_time = 0.0
    n_cues = 0
    for i in range(1, steps + 1):
        t = i / fps
        k = rng.poisson(cues_per_step)
        if k:
            who = rng.integers(0, faces, k)
            what = rng.integers(1, len(EMOTIONS), k)
            amount = rng.uniform(0.3, 1.0, k)
            c0 = time.perf_counter()
            for s, e, a in zip(who, what, amount, strict=True):
                bank.cue(slots[s], EMOTIONS[e], float(a), t)
            cue_time += time.perf_counter() - c0
            n_cues += k
        s0 = time.perf_counter()
        bank.step(t)
        step_time += time.perf_counter() - s0
    total = step_time + cue_time
    return {
        "faces": faces,
        "steps": steps,
        "fps": fps,
        "simulated_seconds": steps / fps,
        "seconds": round(total, 4),
        "step_seconds": round(step_time, 4),
        "cue_seconds": round(cue_time, 4),
        "cues": n_cues,
        "ms_per_step": round(1000.0 * step_time / max(steps, 1), 4),
        "faces_per_second": round(faces * steps / total, 1),
        # How many faces one core could keep at fps in real time (steps only, cues included in total).
        "realtime_faces_at_fps": round(faces * steps / total / fps, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--faces", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0, help="simulated seconds of animation")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.faces < 1 or args.seconds <= 0 or args.fps <= 0:
        p.error("--faces, --seconds and --fps must be positive")
    result = run(args.faces, args.seconds, args.fps, args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")


if __name__ == "__main__":
    main()
