"""`python -m bench.teacher [--json] [--prompts N] [--teacher M] [--student M] [--judge M]`: teacher + student
(server/reply/teacher.py): teacher tokens saved, the batching window's cost in first-token latency, quality.

1. Tokens, REAL models, on the first N of bench/data/teacher_prompts.tsv (20 messages written before this
   bench first ran; nothing tuned on them): teacher-only (Gateway.stream) against teacher + student (Teacher,
   1 and --batch conversations a call). Counted by the llama tokenizer for the embedded model, else litellm.
2. --users sessions ask a STAND-IN teacher (OpenAI-compatible, a thread of this process on 127.0.0.1, reached
   through litellm) at moments uniform over --spread s; it answers every conversation sent after --base +
   --per s a conversation, requests in parallel. Per window: requests, mean batch, request -> guidance.
3. Quality, REAL models: student-only, teacher + student and teacher-only replies judged by --judge (Judge,
   default criteria). Defaults: every model the embedded SmolLM2-135M, 5 prompts; all: --prompts 20.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.evaluation import shown
from server.face import FaceRequests
from server.llm import LOCAL_MODEL, Gateway, load_litellm
from server.personas import load_personas
from server.reply.evaluation import DEFAULT_CRITERIA, Verdict
from server.reply.judge import Judge, JudgePlan
from server.reply.prompt import prompt_for
from server.reply.teacher import Teacher, TeacherPlan, TeacherUnavailable, student_messages
from server.runner import LiveServer
from server.settings import Settings

PROMPTS = Path(__file__).parent / "data" / "teacher_prompts.tsv"
STANDIN, ARMS = "standin-teacher", ("student_only", "taught", "teacher_only")
FULL = {"plan": "Congratulate her warmly, share the joy, ask one question about the wedding, keep it brief",
        "start": "[joy] Oh, that is wonderful news, congratulations to"}  # fmt: skip
TEXTS = [line.split("\t", 1)[1] for line in PROMPTS.read_text().splitlines() if line and line[0] != "#"]
Messages = list[dict[str, str]]


class Tokens:
    """Token counts as `model` counts them: the llama tokenizer for the embedded model, else litellm's."""

    def __init__(self, model: str) -> None:
        self.model, self.litellm, self.llama = model, load_litellm(), None
        self.how = "llama tokenizer (SmolLM2)" if model == LOCAL_MODEL else "litellm.token_counter"
        if model == LOCAL_MODEL:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            from server.llm.local import register

            llama = self.llama = register().load()
            eos, bos = (llama._model.token_get_text(t) for t in (llama.token_eos(), llama.token_bos()))
            self.format = Jinja2ChatFormatter(llama.metadata["tokenizer.chat_template"], eos, bos)

    def text(self, s: str) -> int:
        return (len(self.llama.tokenize(s.encode(), add_bos=False, special=True)) if self.llama is not None
                else int(self.litellm.token_counter(model=self.model, text=s)))  # fmt: skip

    def messages(self, m: Messages) -> int:
        return (self.text(self.format(messages=m).prompt) if self.llama is not None
                else int(self.litellm.token_counter(model=self.model, messages=m)))  # fmt: skip


class Recording(Gateway):
    """The product's gateway, keeping every `complete` call: the teacher's request and raw answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[Messages, str]] = []

    async def complete(self, messages: Messages, **kwargs: Any) -> str:
        self.calls.append((messages, ""))  # a call that fails or times out keeps no answer
        self.calls[-1] = (messages, await super().complete(messages, **kwargs))
        return self.calls[-1][1]


def mean(values: list[Any]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def asked(system: str, text: str) -> Messages:
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


async def whole(stream: Any) -> str:
    return "".join([chunk async for chunk in stream])


def shares(calls: list[tuple[Messages, str]], count: Tokens, only: float, cap: int) -> dict[str, Any]:
    """The teacher's tokens per conversation over its guidance calls (a batch's shared by its own)."""
    n = max(1, sum(m[1]["content"].count("### Conversation ") for m, _ in calls))
    out = round(sum(count.text(a) for _, a in calls) / n, 1)
    put = round(sum(count.messages(m) for m, _ in calls) / n, 1)
    return {"calls": len(calls), "answered": sum(bool(a) for _, a in calls), "output": out, "input": put,
            "saved": round(1 - out / only, 3), "cap": cap, "cap_saved": round(1 - cap / only, 3)}  # fmt: skip


async def real(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    settings = Settings.load()
    options, persona = replace(settings.model_options(), fallbacks=()), load_personas()[settings.persona]
    system = prompt_for(persona, FaceRequests())
    teacher, student = (Gateway(replace(options, model=m)) for m in (args.teacher, args.student))
    one, many = Recording(teacher.options), Recording(teacher.options)
    plan = TeacherPlan(args.teacher, window=0.0, max_batch=1, timeout=args.timeout)
    guide, count, cases = Teacher(one, plan), await asyncio.to_thread(Tokens, args.teacher), []
    for i, prompt in enumerate(TEXTS[: args.prompts]):
        full = await whole(teacher.stream(asked(system, prompt)))
        try:  # as reply.py's `_guided`: the teacher's first words verbatim, then the student's continuation
            g = await guide.guide(asked(system, prompt))
            rest = await whole(student.stream(student_messages(asked(system, prompt), g)))
            space = " " if g.start[-1:].isalnum() and rest[:1].isalnum() else ""
            reply, guided = g.start + space + rest, True
        except TeacherUnavailable:  # no guidance: the student alone
            reply, guided = await whole(student.stream(asked(system, prompt))), False
        alone = await whole(student.stream(asked(system, prompt))) if args.judge else ""
        cases.append({"prompt": prompt, "teacher_only": full, "taught": reply, "guided": guided,
                      "guidance": one.calls[-1][1], "student_only": alone, "out": count.text(full),
                      "in": count.messages(asked(system, prompt))})  # fmt: skip
        log(f"{i + 1}/{args.prompts} teacher tokens: teacher-only {cases[-1]['out']}, guidance "
            f"{count.text(one.calls[-1][1])} (guided: {guided})")  # fmt: skip
    batched = Teacher(many, replace(plan, window=1.0, max_batch=args.batch))
    for k in range(0, len(cases), args.batch):
        group = [asked(system, c["prompt"]) for c in cases[k : k + args.batch]]
        got = await asyncio.gather(*(batched.guide(m) for m in group), return_exceptions=True)
        log(f"a batch of {len(group)}: {sum(not isinstance(g, BaseException) for g in got)} guided")
    only = {"output": mean([c["out"] for c in cases]) or 1.0, "input": mean([c["in"] for c in cases])}
    per = (plan.plan_words + plan.start_words) * 3  # Teacher's max_tokens: this a conversation, 40 a call
    limit = count.text(json.dumps({"c1": FULL})) - count.text(json.dumps({}))  # a capable teacher's guidance
    result = {"teacher": args.teacher, "student": args.student, "counted_with": count.how,
              "prompts": len(cases), "teacher_only": only, "guided_share": mean([c["guided"] for c in cases]),
              "single": shares(one.calls, count, only["output"], per + 40), "batch": args.batch,
              "batched": shares(many.calls, count, only["output"], per + 40 // args.batch),
              "full_guidance": limit, "full_saved": round(1 - limit / only["output"], 3),
              "full_saved_vs_max_tokens": round(1 - limit / options.max_tokens, 3)}  # fmt: skip
    if args.judge:
        result["quality"] = await quality(args, student, persona, system, cases, log)
    return {**result, "cases": cases}


async def quality(args: Any, gw: Gateway, persona: Any, system: str, cases: list, log: Any) -> dict[str, Any]:
    judge = Judge(gw, JudgePlan(args.judge, "observe", dict(DEFAULT_CRITERIA), timeout=args.timeout))
    for i, case in enumerate(cases):
        for arm in ARMS:
            said = await shown(case[arm], persona)
            v, _ = await judge._judge(system, [{"role": "user", "content": case["prompt"]}], said)
            case[f"{arm}_scores"] = {s.criterion: s.score for s in v.scores} if isinstance(v, Verdict) else v
        log(f"judged {i + 1}/{len(cases)}: " + "; ".join(f"{a} {case[f'{a}_scores']}" for a in ARMS))
    out: dict[str, Any] = {"judge": args.judge}
    for arm in ARMS:
        got = [c[f"{arm}_scores"] for c in cases if isinstance(c[f"{arm}_scores"], dict)]
        out[arm] = {"usable": len(got), "overall": mean([min(s.values()) for s in got]),
                    "criteria": {k: mean([s[k] for s in got]) for k in DEFAULT_CRITERIA},
                    "distinct": len({tuple(s.values()) for s in got})}  # fmt: skip
    return out


def standin(base: float, per: float) -> LiveServer:
    """The stand-in: guidance for every conversation asked after base + per x conversations s, in parallel."""
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def completions(request: Any) -> StreamingResponse:
        ids = (await request.json())["response_format"]["json_schema"]["schema"]["required"]
        await asyncio.sleep(base + per * len(ids))
        answer = json.dumps({k: {"plan": "Answer warmly.", "start": "[joy] Sure, here"} for k in ids})
        deltas = (({"role": "assistant", "content": answer}, None), ({}, "stop"))
        chunks = [{"id": "x", "object": "chat.completion.chunk", "created": 0, "model": STANDIN,
                   "choices": [{"index": 0, "delta": d, "finish_reason": f}]} for d, f in deltas]  # fmt: skip
        lines = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
        return StreamingResponse(iter(lines), media_type="text/event-stream")

    return LiveServer(Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])]))


async def users(args: argparse.Namespace, url: str, count: Tokens, log: Any) -> list[dict]:
    settings = Settings.load()
    system, options = prompt_for(load_personas()[settings.persona], FaceRequests()), settings.model_options()
    gateway = Recording(replace(options, model=STANDIN, api_base=url, api_key="bench"))
    await Teacher(gateway, TeacherPlan(STANDIN, window=0.0)).guide(asked(system, "warm up"))
    at, rows = [random.Random(i).uniform(0, args.spread) for i in range(args.users)], []  # same arrivals each

    async def user(teacher: Teacher, i: int) -> float | None:
        await asyncio.sleep(at[i])
        t = time.perf_counter()
        try:
            await teacher.guide(asked(system, TEXTS[i % len(TEXTS)]))
        except TeacherUnavailable:
            return None
        return 1000 * (time.perf_counter() - t)

    for window in args.windows:
        gateway.calls.clear()
        teacher = Teacher(gateway, TeacherPlan(STANDIN, window=window / 1000, max_batch=args.max_batch))
        got = await asyncio.gather(*(user(teacher, i) for i in range(args.users)))
        ms = [s for s in got if s is not None]
        sizes = [m[1]["content"].count("### Conversation ") for m, _ in gateway.calls]
        stated = 1000 * statistics.fmean(args.base + args.per * n for n in sizes)
        rows.append({"window_ms": window, "requests": teacher.requests, "failed": len(got) - len(ms),
                     "mean_batch": round(statistics.fmean(sizes), 2), "p50_ms": round(statistics.median(ms)),
                     "p90_ms": round(statistics.quantiles(ms, n=10)[8]), "stated_ms": round(stated),
                     "input_tokens": sum(count.messages(m) for m, _ in gateway.calls)})  # fmt: skip
        log(f"window {window} ms: {teacher.requests} teacher requests, p50 {rows[-1]['p50_ms']} ms")
    return rows


def table(head: list[str], rows: list[list[Any]]) -> None:
    for row in [head, *rows]:
        cells = (f"{c:.2f}" if isinstance(c, float) else "-" if c is None else str(c) for c in row)
        print("  ".join(f"{c:>{9 if i else 30}}" for i, c in enumerate(cells)))


def show(r: dict[str, Any]) -> None:
    t, m = r.get("tokens"), r["load_model"]
    if t:
        print(f"\n1. TOKENS (REAL models): teacher {t['teacher']}, student {t['student']}; {t['prompts']} "
              f"prompts; counted by the {t['counted_with']}; {t['guided_share']:.0%} guided")  # fmt: skip
        only = t["teacher_only"]
        rows = [["teacher-only (the whole reply)", only["output"], only["input"], "", "max_tokens"]]
        for arm, n in (("single", 1), ("batched", t["batch"])):
            g = t[arm]
            rows.append([f"teacher + student, {n} a call", g["output"], g["input"], f"{g['saved']:.0%}",
                         f"{g['cap']} ({g['cap_saved']:.0%})", f"{g['answered']}/{g['calls']}"])  # fmt: skip
        table(["teacher tokens per reply", "output", "input", "saved", "cap", "answered"], rows)
        full, a, b = t["full_guidance"], 100 * only["output"], 100 * t["batched"]["output"]
        print(f"word-limit guidance (a capable teacher's): {full} tokens, {t['full_saved']:.0%} fewer than "
              f"teacher-only replies here, {t['full_saved_vs_max_tokens']:.0%} fewer than one at max_tokens. "
              f"Per 100 users, teacher output {a:.0f} teacher-only, {b:.0f} guided")  # fmt: skip
    print(f"\n2. {m['users']} USERS, STAND-IN teacher (stated latency {m['base_ms']} ms + {m['per_ms']} ms a "
          f"conversation), arriving uniformly over {m['spread_s']} s, max batch {m['max_batch']}; measured: "
          "request -> guidance, the wait before the student's first token")  # fmt: skip
    keys = ["requests", "mean_batch", "p50_ms", "p90_ms", "stated_ms", "input_tokens", "failed"]
    table(["window ms", *keys], [[w["window_ms"], *(w[k] for k in keys)] for w in r["load"]])
    if q := (t or {}).get("quality"):
        print(f"\n3. QUALITY (REAL models) judged by {q['judge']}, default criteria; mean scores 0-1")
        rows = [[a, q[a]["usable"], q[a]["overall"], *q[a]["criteria"].values()] for a in ARMS]
        table(["arm", "usable", "overall", *(n[:9] for n in DEFAULT_CRITERIA)], rows)
    print(
        f"\n{r['elapsed_s']:.0f} s; load average at the start {r['load_average'][0]:.1f} on {r['cpus']} CPUs"
    )
    print("".join(f"NOTE: {w}\n" for w in r["warnings"]), end="")


def warnings(r: dict[str, Any]) -> list[str]:
    t = r.get("tokens") or {}
    q = t.get("quality") or {}
    judged = [q[a]["usable"] for a in ARMS] if q else []
    same = any(judged) and len({(q[a]["overall"], q[a]["distinct"] > 1) for a in ARMS}) == 1
    return [why for on, why in (
        (t and t["teacher"] == t["student"], "teacher and student are one model: the arms differ by guidance "
         "and sampling only"),
        (t.get("teacher") == LOCAL_MODEL, "the 135M teacher keeps to the guidance format poorly; the figure "
         "at the word limits is what a capable teacher would spend"),
        (q.get("judge") == LOCAL_MODEL, "the judge is the 135M embedded model: too small for its scores to "
         "mean much"),
        (q and not any(judged), "the judge gave no usable verdict: there are no quality numbers"),
        (same, "the judge's scores are identical or constant across the arms: it tells them nothing apart"),
    ) if on]  # fmt: skip


async def run(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    start, result = time.perf_counter(), {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    with standin(args.base, args.per) as server:  # first: the cheap part, before the models warm the CPU
        count = await asyncio.to_thread(Tokens, args.teacher)
        result["load"] = await users(args, f"{server.http_url}/v1", count, log)
    if args.prompts:
        result["tokens"] = await real(args, log)
    result["load_model"] = {"users": args.users, "spread_s": args.spread, "max_batch": args.max_batch,
                            "base_ms": round(args.base * 1000), "per_ms": round(args.per * 1000)}  # fmt: skip
    return {**result, "warnings": warnings(result), "elapsed_s": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.teacher", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    for flag, kind, default, about in (
        ("--prompts", int, 5, "the first N of the 20 prompts (0: part 2 only)"),
        ("--teacher", str, LOCAL_MODEL, ""), ("--student", str, LOCAL_MODEL, ""),
        ("--judge", str, LOCAL_MODEL, "the evaluator ('': no part 3)"), ("--batch", int, 4, "part 1's batch"),
        ("--timeout", float, 180.0, "s per teacher or judge call in parts 1 and 3"),
        ("--users", int, 100, ""), ("--spread", float, 1.5, "s over which the users arrive"),
        ("--base", float, 0.3, "stand-in latency: s a request"), ("--per", float, 0.01, "... a conversation"),
        ("--max-batch", int, Settings.load().teacher_batch, "conversations per teacher call in part 2"),
    ):  # fmt: skip
        p.add_argument(flag, type=kind, default=default, help=about)
    p.add_argument("--windows", type=lambda s: [int(x) for x in s.split(",")], default=[0, 25, 50, 100, 200])
    args = p.parse_args(argv)
    result = asyncio.run(run(args, (lambda line: None) if args.json else print))
    print(json.dumps(result)) if args.json else show(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
