"""Barge-in, measured through a real server in real time (bench/room.py: a loudspeaker, an echo path, a
microphone):

- false barge-ins: the avatar speaks scripted replies aloud (Piper) and its own voice comes back into the
  microphone as echo (50-250 ms late, -25 to -10 dB, a reverb tail, room noise); every `barge_in` stop is
  a false one, per 10 minutes of avatar speech (target <= 1). Also ducks, and echo that became a message.
- real interruptions: the same, plus a user's recording (an Asterisk prompt) starting at a random moment
  1-6 s into the reply's sound; caught = `barge_in` stop for that reply after the user began (target
  >= 95 %). With and without `headphones` (with: no echo).
- user starts talking -> duck: from the recording's first sample above -40 dBFS (media time, due on the
  wall clock as it is streamed) to the `barge_in` duck's arrival (target p90 <= 300 ms), counted where
  the reply was not already ducked for echo.

    .venv/bin/python -m bench.barge [--minutes 3] [--interruptions 30] [--sessions 2] [--json]

The README's figures come from `--minutes 10 --interruptions 100`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import numpy as np

from bench.hearing import corpus, speech_end, words
from bench.room import Room, first_voiced, served
from server.hearing.vad import SAMPLE_RATE

LINES = (
    "I'm so glad you asked about that.",
    "Let me tell you a little about the old lighthouse on the northern cliff.",
    "It was built more than a century ago, and its lamp could be seen twenty miles out at sea.",
    "The keeper lived there alone for most of the year, with only a cat and a shelf of books.",
    "Every evening he climbed the winding stairs to light the great lamp.",
    "Bread is simpler than most people think: flour, water, salt and a little yeast.",
    "The secret is time, because a slow rise gives the dough its flavour.",
    "If you're feeling stuck, try writing down the very next small step, nothing more.",
    "Honestly, I think that's a wonderful idea, and you should give it a try.",
    "The sky looks blue because the air scatters short wavelengths of sunlight more than long ones.",
    "At sunset the light travels through more air, so the reds and oranges are what reach you.",
    "Octopuses have three hearts and blue blood, which still surprises me.",
    "A good cup of tea starts with freshly boiled water and a warmed pot.",
    "Let it steep for three to five minutes, depending on how strong you like it.",
    "Walking for twenty minutes a day does more for your mood than almost anything else.",
    "I remember reading that the oldest known recipe is for beer, written on clay tablets.",
    "Chess players often think several moves ahead, but the best ones also know when to stop thinking.",
    "The museum opens at ten, and the quiet hour before lunch is the best time to visit.",
    "Maybe start with a small garden: a few herbs on the windowsill are easy to keep alive.",
    "Basil likes warmth and sun, while mint will grow almost anywhere you let it.",
    "That sounds like a hard week, and it's okay to feel tired after it.",
    "Music can change how fast time seems to pass, which is why waiting rooms play it.",
    "The moon is slowly drifting away from the earth, about four centimetres every year.",
    "When you learn a language, speaking badly every day beats studying perfectly once a month.",
    "Trains were once so new that people worried the speed would harm their health.",
    "Cats sleep for about two thirds of their lives, mostly in short naps.",
    "A map is only useful if you know where you are standing on it.",
    "Painters mix complementary colours to make shadows that still feel alive.",
    "The best questions are the ones that make you curious about the answer.",
    "Would you like me to go on, or shall we talk about something else?",
)
SERVER = {  # the user's words become a message: answered at once by a refused connection
    "data_dir": None,
    "messages_per_minute": 10_000,  # echo made into messages must not lock the bench out
    "model": "openai/bench-none",
    "api_base": "http://127.0.0.1:9/v1",
    "api_key": "none",
    "retries": 0,
}


def _reply_text(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(LINES, n, replace=False))


async def _session(url: str, args: argparse.Namespace, seed: int, plan: dict[str, Any]) -> list[dict]:
    """Replies in one session until `plan` is done; with `plan["users"]`, one interruption per reply."""
    rng = np.random.default_rng(seed)
    room = Room(url, echo=(0.1, -15.0) if plan["echo"] else None, duck_db=args.duck_db, seed=seed)
    await room.open(plan["headphones"])
    await asyncio.sleep(2.0)  # the hearing's models load on the first `listen`
    trials: list[dict[str, Any]] = []
    lost = 0
    try:
        while plan["left"] > 0 and lost < 3 and room.alive:
            plan["left"] -= 1 if plan["users"] else 0
            mark = len(room.events)
            try:
                trial = await _trial(room, rng, plan)
            except TimeoutError as e:  # counted, with what the server said, and the session goes on
                lost += 1
                said = [m.get("code") or m["type"] for _t, m in room.events[mark:]][-8:]
                trials.append({"lost": f"{e}; then: {said}", "played_s": 0.0, "barge": []})
                continue
            lost = 0
            trials.append(trial)
            if not plan["users"]:
                plan["played"] += trial["played_s"]
                plan["left"] = plan["target_s"] - plan["played"]
    finally:
        await room.close()
    return trials


async def _trial(room: Room, rng: np.random.Generator, plan: dict[str, Any]) -> dict[str, Any]:
    """One reply spoken (with echo unless headphones), interrupted by the user when `plan` has users."""
    delay, gain = rng.uniform(0.05, 0.25), rng.uniform(-25, -10)
    if plan["echo"]:
        room.set_echo(delay, gain)
    mark = len(room.events)
    await room.send({"type": "speak", "text": _reply_text(rng, 4 if plan["users"] else 5)})
    rid = (await room.wait("reply_start", mark, source="script"))["reply_id"]
    reply, trial = room.replies[rid], {"echo_ms": round(delay * 1000), "echo_db": round(gain, 1)}
    until = 0
    if plan["users"]:
        while reply.first_play is None and reply.end is None:
            room.check()
            await asyncio.sleep(0.02)
        name, audio, text = plan["users"][int(rng.integers(len(plan["users"])))]
        onset = (reply.first_play or room.pos) + int(rng.uniform(1.0, 6.0) * SAMPLE_RATE)
        room.say(audio, onset - first_voiced(audio))
        trial.update(user=name, words=len(words(text)), onset=room.start + onset / SAMPLE_RATE)
        until = onset - first_voiced(audio) + speech_end(audio)
    await room.wait("reply_end", mark, timeout=180, reply_id=rid)
    cut = reply.status != "complete"
    until = max(until, room.pos if cut else reply.play_end) + int(2.5 * SAMPLE_RATE)  # turns end
    await room.until(until)
    await asyncio.sleep(1.0)  # its final transcript
    since = room.events[mark:]
    trial.update(played_s=reply.played_s, barge=list(reply.barge))
    trial["model_replies"] = sum(
        1 for _t, m in since if m["type"] == "reply_start" and m["source"] == "model"
    )
    trial["transcripts"] = [m["text"] for _t, m in since if m["type"] == "transcript" and m["final"]]
    trial["errors"] = [m["code"] for _t, m in since if m["type"] == "error"]
    return trial


async def _run(url: str, args: argparse.Namespace, plan: dict[str, Any]) -> list[dict]:
    runs = [_session(url, args, args.seed + 1000 * i + plan["salt"], plan) for i in range(args.sessions)]
    return [t for trials in await asyncio.gather(*runs) for t in trials]


def false_barge_ins(trials: list[dict]) -> dict[str, Any]:
    lost = [t["lost"] for t in trials if "lost" in t]
    trials = [t for t in trials if "lost" not in t]
    minutes = sum(t["played_s"] for t in trials) / 60
    stops = sum(1 for t in trials for a, _ in t["barge"] if a == "stop")
    ducks = sum(1 for t in trials for a, _ in t["barge"] if a == "duck")
    stopped = [t["transcripts"] for t in trials if any(a == "stop" for a, _ in t["barge"])]
    return {
        "replies": len(trials),
        "avatar_speech_min": round(minutes, 2),
        "false_stops": stops,
        "false_stops_per_10_min": round(stops / minutes * 10, 2) if minutes else None,
        "ducks_per_10_min": round(ducks / minutes * 10, 1) if minutes else None,
        "echo_became_a_message": sum(t["model_replies"] for t in trials),
        "false_stops_per_10_min_by_echo_db": _by_level(trials),
        "heard_at_false_stops": stopped[:5],
        "errors": sorted({e for t in trials for e in t["errors"]}),
        "lost": lost[:3],
        "target_per_10_min": 1,
    }


def _by_level(trials: list[dict]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for lo in (-25, -20, -15):
        some = [t for t in trials if lo <= t["echo_db"] < lo + 5]
        minutes = sum(t["played_s"] for t in some) / 60
        stops = sum(1 for t in some for a, _ in t["barge"] if a == "stop")
        out[f"{lo} to {lo + 5}"] = round(stops / minutes * 10, 1) if minutes else None
    return out


def interruptions(trials: list[dict]) -> dict[str, Any]:
    caught, early, duck_ms, stop_ms, ducked_before = 0, 0, [], [], 0
    lost = [t["lost"] for t in trials if "lost" in t]
    trials = [t for t in trials if "lost" not in t]
    for t in trials:
        before = [a for a, at in t["barge"] if at < t["onset"]]
        if "stop" in before:
            early += 1  # echo stopped the reply before the user spoke: not a trial
            continue
        after = [(a, at) for a, at in t["barge"] if at >= t["onset"]]
        stops = [at for a, at in after if a == "stop"]
        caught += bool(stops)
        stop_ms += [(stops[0] - t["onset"]) * 1000] if stops else []
        if before and before[-1] == "duck":
            ducked_before += 1
        elif ducks := [at for a, at in after if a == "duck"]:
            duck_ms.append((ducks[0] - t["onset"]) * 1000)
    n = len(trials) - early
    pct = (lambda v, q: round(float(np.percentile(v, q)))) if duck_ms else (lambda v, q: None)
    return {
        "trials": n,
        "caught": caught,
        "caught_pct": round(100 * caught / n, 1) if n else None,
        "stopped_by_echo_before_user": early,
        "onset_to_stop_ms_p50": round(float(np.median(stop_ms))) if stop_ms else None,
        "onset_to_duck_ms": {"n": len(duck_ms), "p50": pct(duck_ms, 50), "p90": pct(duck_ms, 90)},
        "already_ducked_for_echo": ducked_before,
        "errors": sorted({e for t in trials for e in t["errors"]}),
        "lost": lost[:3],
        "targets": {"caught_pct": 95, "duck_p90_ms": 300},
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    users = [u for u in corpus(1000) if len(u[1]) >= SAMPLE_RATE and len(words(u[2])) >= 3]
    result: dict[str, Any] = {
        "corpus": f"{len(users)} Asterisk prompts (>= 1 s, >= 3 words) as the user; "
        f"{len(LINES)} scripted lines, 5 a reply, spoken by Piper",
        "sessions": args.sessions,
        "duck_db": args.duck_db,
        "cores": os.cpu_count(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    with served(SERVER) as server:
        plans = {"false_barge_ins": {"echo": True, "headphones": False, "users": None}}
        if args.interruptions:
            plans["interruptions_echo"] = {"echo": True, "headphones": False, "users": users}
            plans["interruptions_headphones"] = {"echo": False, "headphones": True, "users": users}
        for salt, (name, plan) in enumerate(plans.items()):
            target = args.minutes * 60 if plan["users"] is None else args.interruptions
            if not target:
                continue
            plan.update(salt=salt, left=target, target_s=target, played=0.0)
            wall, cpu = time.monotonic(), server.cpu_s()
            trials = await _run(server.url, args, plan)
            wall = time.monotonic() - wall
            figures = false_barge_ins(trials) if plan["users"] is None else interruptions(trials)
            figures["server_cores_used"] = round((server.cpu_s() - cpu) / wall, 2)
            figures["wall_s"] = round(wall)
            result[name] = figures
            if not args.json:
                print(f"{name}: {json.dumps(figures)}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.barge", description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=3.0, help="avatar speech with echo (README: 10)")
    p.add_argument("--interruptions", type=int, default=30, help="per condition (README: 100; 0: none)")
    p.add_argument("--sessions", type=int, default=2, help="sessions at once (2 cores: 2)")
    p.add_argument("--duck-db", type=float, default=20.0, help="how much the client lowers a ducked reply")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = asyncio.run(bench(args))
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)  # other work on the machine shows here
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
