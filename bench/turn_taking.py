"""Turn-taking, measured:

- pauses: Smart Turn against plain silence. Single-sentence Asterisk prompts (Allison Smith) cut at a
  word boundary near their middle (Whisper's word times place it, the quietest 10 ms there is the cut)
  and joined again by a thinking pause of 0.4-1.2 s ("the number you have dialed ... is not in service"),
  and the same prompts whole. Through server.hearing's VAD and turns offline (faster than real time),
  with the default judge (Smart Turn v3.2) and with silence alone at several timeouts. Premature: a
  turn that ended inside the pause. Latency: the recording's last sample above -40 dBFS -> the turn's
  end (media time, plus the judge's own compute when it decided).
- reply: end of speech -> first reply audio through a real server with the embedded model and the voice
  on, each prompt streamed in real time (target p50 <= 1.5 s); also -> final transcript, -> reply_start,
  and the model's own first-token time (reply_start -> first `text`).

    .venv/bin/python -m bench.turn_taking [--items 60] [--replies 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from typing import Any

import numpy as np

from bench.hearing import corpus, speech_end, words
from bench.room import Room, first_voiced, served
from server.hearing import asr, endpoint
from server.hearing.turns import TurnEnded, TurnRules, Turns
from server.hearing.vad import SAMPLE_RATE, Listener

STEP = 320
SILENCE_MS = (500, 700, 1000)


def single_sentences(limit: int) -> list[tuple[str, np.ndarray, str]]:
    """Prompts of one sentence, 4 words or more (a cut leaves two on each side)."""
    return [
        u
        for u in corpus(1000)
        if len(words(u[2])) >= 4 and not re.search(r"[.?!]\s+\S", u[2].strip()) and len(u[1]) > SAMPLE_RATE
    ][:limit]


def cut(audio: np.ndarray) -> int | None:
    """A sample between two words near the middle (two or more on each side): Whisper's word times place
    the boundary, the quietest 10 ms there is the cut; boundaries with no dip (running words) are passed."""
    said = asr.transcribe(audio).words
    middle = len(said) / 2 - 1
    for k in sorted(range(1, len(said) - 2), key=lambda k: abs(k - middle)):
        a, b = int((said[k].end - 0.05) * SAMPLE_RATE), int((said[k + 1].start + 0.05) * SAMPLE_RATE)
        frames = [(float(np.sqrt(np.mean(audio[i : i + 160] ** 2))), i + 80) for i in range(a, b - 160, 40)]
        if frames and min(frames)[0] < 0.02:
            return min(frames)[1]
    return None


def items(n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Each prompt twice: whole, and cut with a thinking pause; 0.5 s before, 3 s after, a noise floor."""
    out: list[dict[str, Any]] = []
    lead, tail = np.zeros(SAMPLE_RATE // 2, np.float32), np.zeros(3 * SAMPLE_RATE, np.float32)
    for name, audio, _text in single_sentences(n * 2):
        at = cut(audio)
        if at is None:
            continue
        pause = rng.uniform(0.4, 1.2)
        first, second = audio[:at], audio[at:]
        gap = np.zeros(int(pause * SAMPLE_RATE), np.float32)
        before = len(lead) + len(first) + len(gap)  # where the second part starts
        resume = before + first_voiced(second)
        whole = {"kind": "whole", "audio": np.concatenate([lead, audio, tail]), "pause_s": 0.0,
                 "end": len(lead) + speech_end(audio), "resume": 0}  # fmt: skip
        paused = {"kind": "paused", "audio": np.concatenate([lead, first, gap, second, tail]),
                  "pause_s": pause, "end": before + speech_end(second), "resume": resume,
                  "silent_s": (resume - len(lead) - speech_end(first)) / SAMPLE_RATE}  # fmt: skip
        for item in (whole, paused):
            item["audio"] = item["audio"] + rng.normal(0, 0.001, len(item["audio"])).astype(np.float32)
            out.append({"name": name, **item})
        if len(out) >= 2 * n:
            break
    return out


def vad(audio: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The voice activity of each 20 ms piece, as a session's microphone would feed it (once per item)."""
    listener = Listener()
    return [listener.feed(audio[i : i + STEP]) for i in range(0, len(audio), STEP)]


def turns(item: dict[str, Any], rules: TurnRules, judge: Any) -> dict[str, Any]:
    """Where turns end (the sample at which the decision is made) and what deciding cost."""
    t = Turns(rules, judge)
    ends: list[tuple[int, int, float]] = []  # (decided at, the turn's speech end, compute s)
    for step, (chunks, probs) in enumerate(item["vad"]):
        t0 = time.perf_counter()
        events = t.feed(chunks, probs)
        took = time.perf_counter() - t0
        ends += [((step + 1) * STEP, e.speech_end, took) for e in events if isinstance(e, TurnEnded)]
    ends += [(len(item["audio"]), e.speech_end, 0.0) for e in t.flush() if isinstance(e, TurnEnded)]
    premature = any(end < item["resume"] for _at, end, _ in ends) if item["kind"] == "paused" else False
    latency = (ends[-1][0] - item["end"]) / SAMPLE_RATE + ends[-1][2] if ends else None
    return {"premature": premature, "latency_s": latency, "turns": len(ends)}


def pauses(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    batch = items(n, rng)
    for item in batch:
        item["vad"] = vad(item["audio"])
    judge, calls = endpoint.default(), []
    if judge is not None:
        judge = _timed(judge, calls)
    configs: dict[str, tuple[TurnRules, Any]] = {
        f"silence_{ms}ms": (TurnRules(end_ms=ms), None) for ms in SILENCE_MS
    }
    if judge is not None:
        configs = {"smart_turn": (TurnRules(), judge), **configs}
    paused = [i for i in batch if i["kind"] == "paused"]
    result: dict[str, Any] = {
        "corpus": f"{len(paused)} single-sentence Asterisk prompts, whole and cut with a 0.4-1.2 s pause",
        "pause_s_median": round(float(np.median([i["pause_s"] for i in paused])), 2),
        "silent_s_median": round(float(np.median([i["silent_s"] for i in paused])), 2),
    }
    for name, (rules, judge_fn) in configs.items():
        runs = [(item, turns(item, rules, judge_fn)) for item in batch]
        cuts = [r["premature"] for i, r in runs if i["kind"] == "paused"]
        long = [r["premature"] for i, r in runs if i["kind"] == "paused" and i["pause_s"] >= 0.8]
        ms = [r["latency_s"] * 1000 for i, r in runs if r["latency_s"] is not None and not r["premature"]]
        whole = [
            r["latency_s"] * 1000 for i, r in runs if i["kind"] == "whole" and r["latency_s"] is not None
        ]
        split = sum(1 for i, r in runs if i["kind"] == "whole" and r["turns"] > 1)
        result[name] = {
            "premature_pct": round(100 * sum(cuts) / len(cuts), 1),
            "premature_pct_pause_ge_0.8s": round(100 * sum(long) / max(1, len(long)), 1),
            "whole_split_in_two": split,
            "end_latency_ms_whole": {"p50": round(np.median(whole)), "p90": round(np.percentile(whole, 90))},
            "end_latency_ms_not_cut": {"p50": round(np.median(ms)), "p90": round(np.percentile(ms, 90))},
        }
    if calls:
        result["smart_turn"]["judge_ms_per_call_p50"] = round(float(np.median(calls)) * 1000, 1)
    return result


def _timed(judge: Any, calls: list[float]) -> Any:
    def timed(audio: np.ndarray) -> float:
        t0 = time.perf_counter()
        p = judge(audio)
        calls.append(time.perf_counter() - t0)
        return p

    return timed


async def replies(n: int, seed: int, max_tokens: int) -> dict[str, Any]:
    """Prompts streamed in real time into a server with the embedded model and the voice on."""
    prompts = single_sentences(1000)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(prompts))[: n + 1]
    rows: list[dict[str, float]] = []
    early = missing = 0
    with served({"data_dir": None, "max_tokens": max_tokens}, warm_up=True) as server:
        room = Room(server.url, echo=None, duck_db=20, seed=seed)
        await room.open(headphones=True)
        await asyncio.sleep(2.0)
        for k, i in enumerate(order):  # the first warms the model and the voice: not counted
            _name, audio, _text = prompts[int(i)]
            mark, at = len(room.events), room.now() + SAMPLE_RATE // 2
            room.say(audio, at)
            eos = room.start + (at + speech_end(audio)) / SAMPLE_RATE  # the last voiced sample is due
            while asyncio.get_running_loop().time() < eos:
                await asyncio.sleep(0.01)
            after = len(room.events)  # a pause may have ended a turn early: the turn after the end counts
            final = await room.wait("transcript", after, timeout=60, final=True)
            t_final = next(t for t, m in room.events[after:] if m is final)
            start = await room.wait("reply_start", after, timeout=60, source="model")
            early += any(m["type"] == "transcript" and m["final"] for _t, m in room.events[mark:after])
            reply = room.replies[start["reply_id"]]
            while reply.first_audio is None and reply.end is None:
                await asyncio.sleep(0.01)
            await room.send({"type": "stop"})  # the rest of the reply is not measured
            await room.wait("reply_end", mark, timeout=60, reply_id=reply.reply_id)
            await asyncio.sleep(1.0)
            missing += bool(k) and (reply.first_audio is None or reply.first_text is None)
            if k and reply.first_audio is not None and reply.first_text is not None:
                rows.append({"final_transcript": t_final - eos, "reply_start": reply.started - eos,
                             "first_audio": reply.first_audio - eos,
                             "first_sound": room.start + (reply.first_play or 0) / SAMPLE_RATE - eos,
                             "model_first_text": reply.first_text - reply.started})  # fmt: skip
        await room.close()
    out: dict[str, Any] = {"replies": len(rows), "without_audio": missing, "turn_ended_inside": early,
                           "max_tokens": max_tokens, "target_first_audio_p50_ms": 1500}  # fmt: skip
    for key in rows[0] if rows else ():
        v = [r[key] * 1000 for r in rows]
        out[f"end_of_speech_to_{key}_ms" if key != "model_first_text" else "reply_start_to_first_text_ms"] = {
            "p50": round(np.median(v)),
            "p90": round(np.percentile(v, 90)),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.turn_taking", description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=60, help="prompts, each whole and with a pause (0: skip)")
    p.add_argument("--replies", type=int, default=10, help="spoken to the embedded model (0: skip)")
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result: dict[str, Any] = {"cores": os.cpu_count(), "load_average_at_start": round(os.getloadavg()[0], 2)}
    if args.items:
        result["pauses"] = pauses(args.items, args.seed)
    if args.replies:
        result["reply"] = asyncio.run(replies(args.replies, args.seed, args.max_tokens))
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)  # other work on the machine shows here
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
