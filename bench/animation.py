"""Measure FaceBank throughput: python -m bench.animation [--sessions N] [--seconds S] [--fps F] --json.

`--churn N` measures something else: the step time of one live face after N sessions came and went (all
open together, then all but the highest slot closed), next to one face on a fresh bank (issue 14).

A measurement, not an assertion. It simulates N sessions for S seconds of animation at F fps with every
layer on: emotion cues (~one per session every 2 s, a tenth of them micro-expressions, some sessions
with a mood and non-default controls), speech (each session speaks sentence after sentence of random
viseme timelines, `--speaking` of the time, switching its conversation state between speaking and
listening/thinking), gaze, blinks, breathing and head motion. It reports face-frames per second of wall
time.

The baseline is the same engine and the same event script with one session per FaceBank, stepped one
session at a time in a Python loop (on a subset of sessions, for time); `ratio` is the speed-up of the
vectorized bank over it. `frames_per_second` times the steps (the frame computation); the
`with_calls_` figures also count the API calls (cues, visemes, states, controls) the script makes. BLAS
is held to one thread, so this is one core. The wall clock is read here, in the harness, never inside
the animation code.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core: set before numpy loads BLAS

import argparse
import json
import platform
import time

import numpy as np

from animation.controls import CONTROLS
from animation.emotions import EMOTIONS
from animation.engine import FaceBank
from animation.visemes import VISEMES

Event = tuple[float, int, str, tuple]  # (time, session, kind, args)
VOWELS = ("aa", "E", "ih", "oh", "ou")
CONSONANTS = tuple(v for v in VISEMES if v not in VOWELS and v != "sil")


def sentence(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """A random 1.5-4 s viseme timeline: consonant/vowel pairs, short pauses, ending in sil."""
    names: list[str] = []
    durations: list[float] = []
    for _ in range(int(rng.integers(8, 20))):
        for pool, lo, hi in ((CONSONANTS, 0.05, 0.1), (VOWELS, 0.08, 0.16)):
            names.append(str(pool[rng.integers(len(pool))]))
            durations.append(float(rng.uniform(lo, hi)))
        if rng.random() < 0.15:
            names.append("sil")
            durations.append(float(rng.uniform(0.1, 0.3)))
    names.append("sil")
    return np.concatenate([[0.0], np.cumsum(durations)]), names


def script(sessions: int, seconds: float, speaking: float, seed: int) -> list[Event]:
    """Every session's events over the run, sorted by time (the same script for both measurements)."""
    rng = np.random.default_rng(seed)
    pool = [sentence(rng) for _ in range(64)]
    events: list[Event] = []
    for s in range(sessions):
        if rng.random() < 0.2:  # some sessions run with a mood and their own controls
            events.append(
                (0.0, s, "mood", (EMOTIONS[rng.integers(1, len(EMOTIONS))], float(rng.uniform(0.1, 0.4))))
            )
            for c in CONTROLS:
                value = float(rng.uniform(c.minimum, c.maximum)) if c.step < 1 else float(rng.integers(1, 4))
                if c.name != "mood_lock":
                    events.append((0.0, s, "control", (c.name, value)))
        t = float(rng.uniform(0.0, 1.0))
        while t < seconds:  # cues, ~every 2 s
            hold = 0.2 if rng.random() < 0.1 else float(rng.uniform(1.0, 4.0))
            emotion = EMOTIONS[rng.integers(1, len(EMOTIONS))]
            events.append((t, s, "cue", (emotion, float(rng.uniform(0.3, 1.0)), hold)))
            t += float(rng.exponential(2.0))
        t = float(rng.uniform(0.0, 2.0))
        while t < seconds:  # speech: sentence, pause, sentence...
            times, names = pool[rng.integers(len(pool))]
            events.append((t, s, "state", ("speaking",)))
            events.append((t, s, "visemes", (times, names)))
            t += float(times[-1])
            events.append((t, s, "state", (("listening", "thinking")[int(rng.random() < 0.3)],)))
            t += float(times[-1]) * (1.0 - speaking) / max(speaking, 1e-6)
    events.sort(key=lambda e: e[0])
    return events


def _apply(bank: FaceBank, slot: int, event: Event) -> None:
    t, _, kind, args = event
    if kind == "cue":
        bank.cue(slot, args[0], args[1], t, hold=args[2])
    elif kind == "visemes":
        bank.visemes(slot, t, args[0], args[1])
    elif kind == "state":
        bank.set_state(slot, args[0])
    elif kind == "mood":
        bank.set_mood(slot, args[0], args[1])
    else:
        bank.set_control(slot, args[0], args[1])


def vectorized(sessions: int, steps: int, fps: float, events: list[Event], seed: int) -> dict[str, float]:
    bank = FaceBank(capacity=sessions, seed=seed)
    slots = [bank.add(0.0) for _ in range(sessions)]
    step_s = call_s = 0.0
    i = 0
    for k in range(1, steps + 1):
        t = k / fps
        c0 = time.perf_counter()
        while i < len(events) and events[i][0] <= t:
            _apply(bank, slots[events[i][1]], events[i])
            i += 1
        s0 = time.perf_counter()
        bank.step(t)
        step_s += time.perf_counter() - s0
        call_s += s0 - c0
    return {"step_seconds": step_s, "call_seconds": call_s, "calls": i}


def per_session_loop(
    sessions: int, steps: int, fps: float, events: list[Event], seed: int
) -> dict[str, float]:
    """The same script with one bank per session, each stepped in turn in a Python loop."""
    banks = [FaceBank(capacity=1, seed=seed + s) for s in range(sessions)]
    slots = [b.add(0.0) for b in banks]
    mine: list[list[Event]] = [[] for _ in range(sessions)]
    for e in events:
        if e[1] < sessions:
            mine[e[1]].append(e)
    cursor = [0] * sessions
    step_s = call_s = 0.0
    for k in range(1, steps + 1):
        t = k / fps
        for s in range(sessions):
            c0 = time.perf_counter()
            todo, j = mine[s], cursor[s]
            while j < len(todo) and todo[j][0] <= t:
                _apply(banks[s], slots[s], todo[j])
                j += 1
            cursor[s] = j
            s0 = time.perf_counter()
            banks[s].step(t)
            step_s += time.perf_counter() - s0
            call_s += s0 - c0
    return {"step_seconds": step_s, "call_seconds": call_s}


def run(
    sessions: int,
    seconds: float,
    fps: float = 30.0,
    seed: int = 0,
    speaking: float = 1.0,
    loop_sessions: int = 50,
    loop_seconds: float = 2.0,
) -> dict[str, float | int | str]:
    steps = round(seconds * fps)
    events = script(sessions, seconds, speaking, seed)
    v = vectorized(sessions, steps, fps, events, seed)
    frames = sessions * steps
    n_loop, loop_steps = min(loop_sessions, sessions), max(1, round(min(loop_seconds, seconds) * fps))
    loop = per_session_loop(n_loop, loop_steps, fps, events, seed)
    fps_vec = frames / v["step_seconds"]
    fps_loop = n_loop * loop_steps / loop["step_seconds"]
    with_calls = frames / (v["step_seconds"] + v["call_seconds"])
    loop_with_calls = n_loop * loop_steps / (loop["step_seconds"] + loop["call_seconds"])
    return {
        "sessions": sessions,
        # Frames stepped per second: the bank's step() for all sessions, every layer on.
        "frames_per_second": round(fps_vec, 1),
        "per_session_loop_frames_per_second": round(fps_loop, 1),
        "ratio": round(fps_vec / fps_loop, 1),
        # The same, counting the API calls the script makes (cues, visemes, states, controls) too.
        "with_calls_frames_per_second": round(with_calls, 1),
        "with_calls_ratio": round(with_calls / loop_with_calls, 1),
        "calls": int(v["calls"]),
        "us_per_call": round(1e6 * v["call_seconds"] / max(1, v["calls"]), 2),
        "steps": steps,
        "fps": fps,
        "simulated_seconds": steps / fps,
        "speaking_fraction": speaking,
        "step_seconds": round(v["step_seconds"], 4),
        "call_seconds": round(v["call_seconds"], 4),
        "ms_per_step": round(1000.0 * v["step_seconds"] / max(steps, 1), 4),
        # How many sessions one core could keep at fps in real time (steps only).
        "realtime_sessions_at_fps": round(fps_vec / fps, 1),
        "loop_sessions": n_loop,
        "loop_steps": loop_steps,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def churn(faces: int, seconds: float, fps: float = 30.0, seed: int = 0) -> dict[str, float | int | str]:
    """ms per step with one live face: on a fresh bank, and after `faces` sessions came and went."""
    fresh, churned = FaceBank(seed=seed), FaceBank(seed=seed)
    fresh.add(0.0)
    slots = [churned.add(0.0) for _ in range(faces)]
    churned.step(1.0 / fps)  # they were all live together once
    for s in slots[:-1]:
        churned.remove(s)
    spent = {"fresh": 0.0, "churned": 0.0}
    banks = {"fresh": fresh, "churned": churned}
    for bank in banks.values():
        bank.cue(bank.active_slots()[0], "joy", 0.8, 1.0 / fps, hold=2.0)
    steps = max(1, round(seconds * fps))
    for k in range(30 + steps):  # alternate the two, so drift in the machine's speed hits both alike
        t = (k + 2) / fps
        for name, bank in banks.items():
            c0 = time.perf_counter()
            frames = bank.step(t)
            if k >= 30:  # the first second warms up
                spent[name] += time.perf_counter() - c0
    fresh_ms, churned_ms = (1000.0 * spent[n] / steps for n in ("fresh", "churned"))
    return {
        "churn_faces": faces,
        "live_faces": len(churned.active_slots()),
        "steps": steps,
        "fresh_ms_per_step": round(fresh_ms, 4),
        "churned_ms_per_step": round(churned_ms, 4),
        "slowdown": round(churned_ms / fresh_ms, 2),
        # Rows the bank keeps per face array, and rows of the frames a step returns (laid out by slot).
        "capacity": churned.capacity,
        "frame_rows": int(frames.shape[0]),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", "--faces", type=int, default=1000, dest="sessions")
    p.add_argument("--seconds", type=float, default=10.0, help="simulated seconds of animation")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speaking", type=float, default=1.0, help="share of time each session speaks")
    p.add_argument("--loop-sessions", type=int, default=50, help="sessions in the per-session baseline")
    p.add_argument("--churn", type=int, metavar="N", help="one live face after N came and went, instead")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.sessions < 1 or args.seconds <= 0 or args.fps <= 0 or args.loop_sessions < 1:
        p.error("--sessions, --seconds, --fps and --loop-sessions must be positive")
    if not 0.0 < args.speaking <= 1.0:
        p.error("--speaking must be in (0, 1]")
    if args.churn is not None:
        if args.churn < 1:
            p.error("--churn must be positive")
        result = churn(args.churn, args.seconds, args.fps, args.seed)
    else:
        result = run(args.sessions, args.seconds, args.fps, args.seed, args.speaking, args.loop_sessions)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>36}: {v}")


if __name__ == "__main__":
    main()
