"""`mien loadtest`: many real websocket sessions against a Mien server, from several processes.

    mien loadtest --serve --sessions 500 --rate 50 --mode idle --seconds 60 [--json]
    mien loadtest --url ws://127.0.0.1:8000/ws --mode speaking --sessions 200 [--server-pid PID]

Sessions connect at `--rate` per second, spread over `--workers` processes (default: one per core), each an
asyncio loop; after the ramp (and a second to settle) the run measures for `--seconds`. Modes: `idle`
(frames only), `chatting` (a `user_message`, or with `--scripted` a `speak`, every `--every` s, default
10) and `speaking` (voice on, a ~5 s scripted line every `--every` s, default 30; four lines in turn, as a
site's greetings repeat: `--distinct` makes every line unique, so nothing is reused). Reports connect time,
frame gaps at the client (arrival, on the monotonic clock, and media time from t_ms), each session's frame
rate (its 5th percentile), text lost, errors by code, the server's CPU and RSS when it runs here (started
with `--serve`, found by its port, or `--server-pid`) and the generator's own CPU. A soak is a long run:
RSS is sampled every `--sample-every` s and reported as first/last/max over the window.

Loopback sessions each connect from their own 127.x.y.z address, so the server sees distinct visitors
(its per-visitor limits would otherwise refuse the 21st session); `--one-address` turns that off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import resource
import sys
import time
from multiprocessing.connection import wait
from typing import Any
from urllib.parse import urlsplit

from bench.loadtest_client import Plan, worker
from bench.loadtest_report import report, table
from bench.loadtest_server import find_pid, machine_cpu, sample, served

SETTLE = 1.0  # s after the last scheduled connection before measuring


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default="ws://127.0.0.1:8000/ws", help="a running server's websocket URL")
    p.add_argument("--serve", action="store_true", help="start `mien serve` in its own process instead")
    p.add_argument("--model", help="(with --serve) the server's model (default: the embedded SmolLM2)")
    p.add_argument("--voice", help="(with --serve) the server's voice spec")
    p.add_argument("--persona", help="(with --serve) the default persona")
    p.add_argument(
        "--serve-workers",
        type=int,
        default=1,
        help="(with --serve) server processes (needs MIEN_REDIS_URL or MIEN_LOCAL_LIMITS in --serve-env)",
    )
    p.add_argument(
        "--serve-env", action="append", default=[], metavar="KEY=VALUE", help="(with --serve) a setting"
    )
    p.add_argument("--sessions", type=int, default=100, help="sessions in all (default 100)")
    p.add_argument("--rate", type=float, default=50.0, help="connections per second (default 50)")
    p.add_argument("--mode", choices=("idle", "chatting", "speaking"), default="idle")
    p.add_argument("--every", type=float, help="s between messages (chatting 10, speaking 30)")
    p.add_argument("--scripted", action="store_true", help="chatting sends `speak` lines (no model)")
    p.add_argument(
        "--distinct",
        action="store_true",
        help="every scripted line unique (a guest's name and number added): no cache can serve it",
    )
    p.add_argument("--seconds", type=float, default=60.0, help="the measured window (default 60)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: cores)")
    p.add_argument("--server-pid", type=int, help="the server's process, for CPU and RSS (local only)")
    p.add_argument("--sample-every", type=float, default=5.0, help="s between RSS/CPU samples (default 5)")
    p.add_argument("--no-compression", action="store_true", help="no permessage-deflate (browsers use it)")
    p.add_argument("--one-address", action="store_true", help="every session from the same address")
    p.add_argument("--json", action="store_true", help="one JSON object")


def register(subparsers: Any) -> None:
    """The `mien.commands` entry point: adds `mien loadtest`."""
    p = subparsers.add_parser("loadtest", help="many websocket sessions against a server; prints figures")
    add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.sessions < 1 or args.rate <= 0 or args.seconds <= 0 or args.workers < 1:
        print("mien loadtest: --sessions, --rate, --seconds and --workers must be positive", file=sys.stderr)
        return 2
    if urlsplit(args.url).scheme != "ws" or any("=" not in kv for kv in args.serve_env):
        print("mien loadtest: --url takes ws://HOST:PORT/PATH, --serve-env KEY=VALUE", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # a socket per session (workers inherit it)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    spread = not args.one_address and (urlsplit(args.url).hostname or "").startswith("127.")
    try:
        if args.serve:
            serve_args = [
                *(["--model", args.model] if args.model else []),
                *(["--voice", args.voice] if args.voice else []),
                *(["--persona", args.persona] if args.persona else []),
                *(["--workers", str(args.serve_workers)] if args.serve_workers > 1 else []),
            ]
            env = {"MIEN_MAX_CONNECTIONS": str(max(1000, args.sessions + 10))}
            if args.one_address:
                env["MIEN_CONNECTIONS_PER_VISITOR"] = str(args.sessions + 10)
                env["MIEN_MESSAGES_PER_MINUTE"] = "100000"
            env.update(kv.split("=", 1) for kv in args.serve_env)
            with served(serve_args, env) as (url, pid):
                result = measure(args, url, pid, True)
        else:
            pid = args.server_pid or find_pid(args.url)
            result = measure(args, args.url, pid, spread)
    except RuntimeError as e:
        print(f"mien loadtest: {e}", file=sys.stderr)
        return 2
    finally:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    print(json.dumps(result) if args.json else table(result), flush=True)
    return 0


def measure(args: argparse.Namespace, url: str, pid: int | None, spread: bool) -> dict[str, Any]:
    """Start the workers, give them one start time, sample the server while they run, merge."""
    every = args.every or (30.0 if args.mode == "speaking" else 10.0)
    ramp = args.sessions / args.rate + SETTLE
    plan = Plan(
        url, args.mode, args.sessions, args.rate, every, args.scripted, spread, not args.no_compression,
        distinct=args.distinct, t0=0.0, window_start=ramp, window_end=ramp + args.seconds,
    )  # fmt: skip
    workers = min(args.workers, args.sessions)
    load_before = os.getloadavg()
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    pipes, processes = [], []
    for w in range(workers):
        parent, child = context.Pipe()
        process = context.Process(
            target=worker, args=(child, plan, list(range(w, args.sessions, workers))), daemon=True
        )
        process.start()
        child.close()
        pipes.append(parent)
        processes.append(process)
    try:
        for pipe in pipes:
            if not pipe.poll(120) or pipe.recv() != "ready":
                raise RuntimeError("a worker process did not start")
        t0 = time.monotonic() + 0.2
        for pipe in pipes:
            pipe.send(t0)
        start, end = t0 + plan.window_start, t0 + plan.window_end
        before = sample(pid) if pid else None
        window: list[Any] = []
        busy: list[float] = []  # the whole machine's CPU seconds at each sample
        results: list[dict[str, Any]] = []
        pending = set(pipes)
        n = max(1, round(args.seconds / args.sample_every))
        times = [start + (end - start) * k / n for k in range(n + 1)]  # both ends of the window included
        while pending and time.monotonic() < end + 120:
            timeout = max(0.0, times[0] - time.monotonic()) if times else 1.0
            for pipe in wait(list(pending), timeout):
                try:
                    results.append(pipe.recv())
                except EOFError:
                    results.append({"failed": "worker exited without figures"})
                pending.discard(pipe)
            while times and time.monotonic() >= times[0]:
                times.pop(0)
                window.append(sample(pid) if pid else None)
                busy.append(machine_cpu())
        results += [{"failed": "worker timed out"} for _ in pending]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    own = resource.getrusage(resource.RUSAGE_SELF)
    config = {
        "url": url,
        "mode": args.mode,
        "sessions": args.sessions,
        "rate": args.rate,
        "every_s": every if args.mode != "idle" else None,
        "scripted": args.scripted or args.mode == "speaking",
        "distinct_lines": args.distinct,
        "seconds": args.seconds,
        "ramp_s": round(ramp, 2),
        "workers": workers,
        "compression": not args.no_compression,
        "distinct_addresses": spread,
        "served": args.serve,
        "server_workers": args.serve_workers if args.serve else None,
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        # Every process on the machine (the server, this tool, and anyone else's jobs), % of one core.
        "machine_cpu_percent": round((busy[-1] - busy[0]) / args.seconds * 100, 1) if len(busy) > 1 else None,
    }
    return report(config, results, pid, before, window, own.ru_utime + own.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
