"""Does the evaluator (server/reply/judge.py) answer usably, what does it add to a reply's latency, and do
its scores mean anything?

    python -m bench.evaluation [--prompts 12] [--revise 4] [--pick 0] [--generator M] [--evaluator M] [--json]

For each of the first N messages of bench/data/evaluation_prompts.tsv (30 varied user messages: greetings,
facts, sad and happy news, rude ones, requests for code; written before the bench was first run, and
nothing tuned on them), the generator writes a reply to it under the default persona's system prompt
(prompt_for, no face requests), then:
- observe: the evaluator judges the reply as the face showed it, through Judge._judge (the product's call:
  evaluation.messages, gateway.complete with the schema's response_format, evaluation.parse); the same
  question again with response_format=None shows what the grammar (structured output) buys;
- control: the evaluator judges a fixed rude, off-topic reply with mismatched tags: a judge that scores it
  like the real replies is not telling replies apart;
- revise: Judge.held in `revise` mode (draft, judge, maybe a rewrite and a second judgement), timed against
  the plain reply's generation; pick (N=3 candidates) on the first K prompts with --pick K.
Defaults: the embedded model as generator and evaluator, offline (server.llm sets
LITELLM_LOCAL_MODEL_COST_MAP); any litellm model with --generator / --evaluator (MIEN_API_BASE etc. apply).
The evaluator's timeout is --timeout (60 s, so that parsing is measured, not the clock); the share of calls
within the product's default (Settings.evaluator_timeout) is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from server.events import Cue, Text
from server.face import FaceRequests
from server.llm import LOCAL_MODEL, Gateway, ProviderError
from server.personas import load_personas
from server.reply import evaluation
from server.reply.evaluation import EvaluationError, Verdict
from server.reply.judge import Judge, JudgePlan
from server.reply.prompt import prompt_for
from server.reply.sentences import reply_events, scripted
from server.settings import Settings

PROMPTS = Path(__file__).parent / "data" / "evaluation_prompts.tsv"
CONTROL = "[joy] Whatever. [anger:0.6] Stop bothering me with this, I don't care about you."


def prompts(path: Path = PROMPTS) -> list[tuple[str, str]]:
    rows = [line.split("\t", 1) for line in path.read_text().splitlines() if line and line[0] != "#"]
    return [(kind, text) for kind, text in rows]


def rank(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 2) if ordered else None


def spread(values: list[float]) -> dict[str, float | None]:
    return {"p50_s": rank(values, 0.5), "p90_s": rank(values, 0.9), "n": len(values)}  # type: ignore[dict-item]


async def shown(raw: str, persona: Any) -> str:
    """The reply as observe judges it: the visible text with the face's cues as tags (reply.py)."""
    visible, cues = [], []
    async for event in reply_events(scripted(raw), keep=persona.allows):
        if isinstance(event, Text):
            visible.append(event.delta)
        elif isinstance(event, Cue) and event.tempered_by is None:
            cues.append((event.emotion, event.intensity, event.offset))
    return evaluation.tagged("".join(visible), cues)


async def plain(gateway: Gateway, plan: JudgePlan, system: str, conversation: list, reply: str) -> Any:
    """Judge._judge's question without the grammar (response_format=None): a Verdict or why not."""
    asked = evaluation.messages(plan.criteria, plan.threshold, system, conversation, reply)
    names = list(plan.criteria)
    call = gateway.complete(asked, model=plan.model, max_tokens=60 * len(names) + 80, timeout=plan.timeout)
    try:
        return evaluation.parse(await asyncio.wait_for(call, plan.timeout), names)
    except EvaluationError as e:
        return f"the evaluator's answer was not usable: {e}"
    except TimeoutError:
        return f"the evaluator did not answer within {plan.timeout:g} s"
    except ProviderError as e:
        return f"the evaluator failed: {e}"


class Recording(Gateway):
    """The product's gateway, keeping the evaluator's last raw answer (to show what failed to parse)."""

    last = ""

    async def complete(self, *args: Any, **kwargs: Any) -> str:
        self.last = ""
        self.last = await super().complete(*args, **kwargs)
        return self.last


async def timed(call: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    result = await call
    return result, time.perf_counter() - t


async def measure(
    n: int, held: int, pick: int, generator: str, evaluator: str, timeout: float, log: Any
) -> dict:
    settings = Settings.load()
    gateway = Recording(replace(settings.model_options(), model=generator, fallbacks=()))
    await gateway.warm_up()
    persona = load_personas()["mien"]
    system = prompt_for(persona, FaceRequests())
    plan = JudgePlan(evaluator, "observe", dict(persona.criteria or evaluation.DEFAULT_CRITERIA),
                     settings.evaluator_threshold, settings.evaluator_candidates, timeout)  # fmt: skip
    judge = Judge(gateway, plan)
    cases = []
    for i, (kind, text) in enumerate(prompts()[:n]):
        conversation = [{"role": "user", "content": text}]
        messages = [{"role": "system", "content": system}, *conversation]
        reply, gen_s = await timed(_write(gateway, messages))
        said = await shown(reply, persona)
        (verdict, _), judge_s = await timed(judge._judge(system, conversation, said))
        answer = gateway.last
        bare, bare_s = await timed(plain(gateway, plan, system, conversation, said))
        bare_answer = gateway.last
        (control, _), _ = await timed(judge._judge(system, conversation, await shown(CONTROL, persona)))
        case = {"kind": kind, "prompt": text, "reply": said, "gen_s": gen_s, "judge_s": judge_s,
                "verdict": verdict, "answer": answer, "bare": bare, "bare_s": bare_s,
                "bare_answer": bare_answer, "control": control}  # fmt: skip
        if i < held:
            revising = Judge(gateway, replace(plan, mode="revise"))
            (_, event), case["revise_s"] = await timed(revising.held(messages))
            case |= {"revised": event.revised, "revise_judged": event.reason is None}
        if i < pick:
            picking = Judge(gateway, replace(plan, mode="pick"))
            (_, chosen), case["pick_s"] = await timed(picking.held(messages))
            case["pick_judged"] = chosen.reason is None
        cases.append(case)
        ok = "ok" if isinstance(verdict, Verdict) else "FAIL"
        log(
            f"{i + 1:>2}/{n} {kind:<10} reply {gen_s:4.1f} s  judge {judge_s:4.1f} s {ok:<4}  "
            + "  ".join(f"{m} {case[f'{m}_s']:.1f} s" for m in ("revise", "pick") if f"{m}_s" in case)
        )
    return summarize(cases, plan, generator, settings.evaluator_timeout)


async def _write(gateway: Gateway, messages: list) -> str:
    return "".join([chunk async for chunk in gateway.stream(messages)])


def reasons(results: list[Any]) -> dict[str, int]:
    """Why answers were not usable, numbers and quoted names folded so that alike failures group."""
    folded = (
        re.sub(r"'\w+'", "'…'", re.sub(r"-?\d+(\.\d+)?", "N", r)) for r in results if isinstance(r, str)
    )
    return dict(Counter(folded).most_common())


def share(results: list[Any]) -> float:
    return round(sum(isinstance(r, Verdict) for r in results) / max(1, len(results)), 3)


def scores(verdicts: list[Verdict], names: list[str]) -> dict[str, Any]:
    """Mean per criterion, and the signs that a judge is not discriminating."""
    per = {c: [v.score(c) for v in verdicts] for c in names}
    same = sum(len({s.score for s in v.scores}) == 1 for v in verdicts)
    return {
        "n": len(verdicts),
        "mean": {c: round(statistics.fmean(xs), 3) for c, xs in per.items()} if verdicts else {},
        "distinct": {c: len(set(xs)) for c, xs in per.items()},
        "commonest_share": {
            c: round(Counter(xs).most_common(1)[0][1] / len(xs), 3) for c, xs in per.items() if xs
        },
        "identical_across_criteria": round(same / max(1, len(verdicts)), 3),
        "overall_mean": round(statistics.fmean(v.overall for v in verdicts), 3) if verdicts else None,
    }


def warnings(real: dict[str, Any], control: dict[str, Any]) -> list[str]:
    out = []
    if real["n"] < 3:
        return ["too few usable verdicts to say anything about the scores"]
    if real["identical_across_criteria"] >= 0.5:
        out.append(f"{real['identical_across_criteria']:.0%} of verdicts give every criterion the same score")
    flat = [c for c, k in real["commonest_share"].items() if k >= 0.8]
    if flat:
        out.append(f"scores barely vary across replies for {', '.join(flat)} (one value in >= 80 %)")
    if control["n"] and control["overall_mean"] >= real["overall_mean"] - 0.2:
        out.append(f"a rude, off-topic reply scores {control['overall_mean']:.2f} overall, the real ones "
                   f"{real['overall_mean']:.2f}: the judge does not tell them apart")  # fmt: skip
    return out


def held_stats(cases: list[dict], mode: str) -> dict[str, Any]:
    """A held mode's time before the reply is shown, and what it adds to the plain reply's generation."""
    done = [c for c in cases if f"{mode}_s" in c]
    return {
        "total": spread([c[f"{mode}_s"] for c in done]),
        "added": spread([c[f"{mode}_s"] - c["gen_s"] for c in done]),
        "judged_share": round(sum(c[f"{mode}_judged"] for c in done) / len(done), 3) if done else None,
        "revised_share": round(sum(c.get("revised", 0) for c in done) / len(done), 3) if done else None,
    }


def summarize(cases: list[dict], plan: JudgePlan, generator: str, product_timeout: float) -> dict[str, Any]:
    names = list(plan.criteria)
    grammar, bare = [c["verdict"] for c in cases], [c["bare"] for c in cases]
    judge_s = [c["judge_s"] for c in cases]
    real = scores([v for v in grammar if isinstance(v, Verdict)], names)
    control = scores([c["control"] for c in cases if isinstance(c["control"], Verdict)], names)
    plain_cases = [
        {k: _plain(v) if isinstance(v, (Verdict, str)) else v for k, v in c.items()} for c in cases
    ]
    within = round(sum(s <= product_timeout for s in judge_s) / len(cases), 3)
    return {
        "generator": generator, "evaluator": plan.model, "prompts": len(cases), "timeout_s": plan.timeout,
        "load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
        "parse": {"grammar": share(grammar), "no_grammar": share(bare),
                  "grammar_failures": reasons(grammar), "no_grammar_failures": reasons(bare),
                  "control": share([c["control"] for c in cases])},
        "latency": {"reply": spread([c["gen_s"] for c in cases]), "observe": spread(judge_s),
                    "no_grammar": spread([c["bare_s"] for c in cases]),
                    "observe_within_product_timeout": within, "product_timeout_s": product_timeout},
        "revise": held_stats(cases, "revise"), "pick": held_stats(cases, "pick"),
        "scores": real, "control_scores": control, "warnings": warnings(real, control), "cases": plain_cases,
    }  # fmt: skip


def _plain(result: Any) -> Any:
    return {s.criterion: s.score for s in result.scores} if isinstance(result, Verdict) else result


def show(r: dict[str, Any]) -> None:
    p, lat = r["parse"], r["latency"]
    print(f"generator {r['generator']}, evaluator {r['evaluator']}; {r['prompts']} prompts; evaluator "
          f"timeout {r['timeout_s']:g} s; load average {r['load_average']} on {r['cpus']} CPUs")  # fmt: skip
    print(f"\nusable verdicts: with the grammar {p['grammar']:.0%}, without (response_format=None) "
          f"{p['no_grammar']:.0%}; on the control reply {p['control']:.0%}")  # fmt: skip
    for label, failures in (
        ("with grammar", p["grammar_failures"]),
        ("no grammar", p["no_grammar_failures"]),
    ):
        for why, k in failures.items():
            print(f"  {label}: {k} x {why}")
    print(f"\n{'seconds':<30} {'p50':>6} {'p90':>6}")
    rows = [("plain reply (generation)", lat["reply"]), ("observe: judging after it", lat["observe"]),
            ("  the same without grammar", lat["no_grammar"]),
            ("revise: total before shown", r["revise"]["total"]), ("revise: added", r["revise"]["added"]),
            ("pick N=3: total", r["pick"]["total"]), ("pick N=3: added", r["pick"]["added"])]  # fmt: skip
    for label, s in rows:
        if s["n"]:
            print(f"{label:<30} {s['p50_s']:>6.1f} {s['p90_s']:>6.1f}   (n={s['n']})")
    print(f"observe within the product's {lat['product_timeout_s']:g} s timeout: "
          f"{lat['observe_within_product_timeout']:.0%}")  # fmt: skip
    for mode in ("revise", "pick"):
        if r[mode]["judged_share"] is not None:
            print(f"{mode}: the shown reply was judged {r[mode]['judged_share']:.0%}"
                  + (f", rewritten {r[mode]['revised_share']:.0%}" if mode == "revise" else ""))  # fmt: skip
    s, c = r["scores"], r["control_scores"]
    print(f"\nscores (n={s['n']}; control n={c['n']}){'':<6} {'mean':>6} {'control':>8} {'distinct':>9}")
    for name, mean in s["mean"].items():
        print(f"  {name:<31} {mean:>6.2f} {c['mean'].get(name, float('nan')):>8.2f} {s['distinct'][name]:>9}")
    print(f"  overall (weakest){'':<14} {s['overall_mean'] or 0:>6.2f} {c['overall_mean'] or 0:>8.2f}")
    print(f"  identical across criteria: {s['identical_across_criteria']:.0%} of verdicts")
    for w in r["warnings"]:
        print(f"WARNING: {w}")
    if r["warnings"]:
        print("WARNING: this judge is too small for its scores to mean much; use a larger evaluator model.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--prompts", type=int, default=12, help="the first N of the 30 prompts (default 12)")
    parser.add_argument("--revise", type=int, default=4, help="time revise on the first K prompts")
    parser.add_argument("--pick", type=int, default=0, help="time pick (N=3) on the first K prompts")
    parser.add_argument("--generator", default=LOCAL_MODEL, help="litellm model writing the replies")
    parser.add_argument("--evaluator", default=LOCAL_MODEL, help="litellm model judging them")
    parser.add_argument("--timeout", type=float, default=60.0, help="s per evaluator call")
    args = parser.parse_args(argv)
    log = partial(print, file=sys.stderr if args.json else sys.stdout, flush=True)  # progress
    result = asyncio.run(
        measure(args.prompts, args.revise, args.pick, args.generator, args.evaluator, args.timeout, log)
    )
    if args.json:
        print(json.dumps(result))
    else:
        show(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
