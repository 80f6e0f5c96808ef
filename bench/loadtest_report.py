"""`mien loadtest`'s figures: the workers' histograms and counts merged into one report, and that report
as a readable table."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from bench.loadtest_client import GAP_BIN_MS, GAP_BINS, MEDIA_BINS
from bench.loadtest_server import Sample

TARGET_FPS_P5 = 28.0  # issue 14: 500 sessions at >= 28 fps (5th percentile), p99 gap <= 50 ms
TARGET_GAP_P99_MS = 50.0


def _rank(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of a list."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _hist_rank(bins: list[int], overflow: list[float], q: float, width: float, mid: float) -> float | None:
    """Nearest-rank percentile of a fixed-bin histogram (value of bin b: (b + mid) * width) whose values
    past the last bin are kept as they are in `overflow`."""
    total = sum(bins) + len(overflow)
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for b, count in enumerate(bins):
        seen += count
        if seen >= rank:
            return (b + mid) * width
    return sorted(overflow)[rank - seen - 1]


def _r(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x, digits)


def _spread(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": _r(_rank(values, 0.5)),
        "p99": _r(_rank(values, 0.99)),
        "max": _r(max(values, default=None)),
    }


def _server(pid: int | None, before: Sample | None, window: list[Sample | None]) -> dict[str, Any] | None:
    seen = [s for s in window if s is not None]
    if pid is None or len(seen) < 2:
        return None if pid is None else {"pid": pid, "note": "could not read /proc for this process"}
    first, last = seen[0], seen[-1]
    samples, previous = [], first
    for s in seen:
        busy = (s.cpu - previous.cpu) / (s.t - previous.t) * 100 if s.t > previous.t else None
        samples.append([round(s.t - first.t, 1), round(s.rss_mb, 1), _r(busy)])
        previous = s
    return {
        "pid": pid,
        "cpu_percent": _r((last.cpu - first.cpu) / (last.t - first.t) * 100),  # of one core
        "rss_mb": {
            "before": _r(before.rss_mb) if before else None,
            "first": _r(first.rss_mb),
            "last": _r(last.rss_mb),
            "max": _r(max(s.rss_mb for s in seen)),
            "growth_pct": _r((last.rss_mb - first.rss_mb) / first.rss_mb * 100, 2),
        },
        "samples": samples,  # [s into the window, RSS MB, CPU % since the previous sample]
    }


def report(
    config: dict[str, Any],
    results: list[dict[str, Any]],
    pid: int | None,
    before: Sample | None,
    window: list[Sample | None],
    own_cpu: float,
) -> dict[str, Any]:
    """One JSON-able object: the run's configuration and every figure."""
    gaps, media = [0] * GAP_BINS, [0] * MEDIA_BINS
    gap_overflow: list[float] = []
    media_overflow: list[float] = []
    connect, fps, first_text, first_audio = [], [], [], []
    errors: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    gap_max = cpu_window = cpu_total = 0.0
    for r in results:
        if "failed" in r:
            errors[f"worker_failed: {r['failed']}"] += 1
            continue
        gaps = [a + b for a, b in zip(gaps, r["gaps"], strict=True)]
        media = [a + b for a, b in zip(media, r["media"], strict=True)]
        gap_overflow += r["gap_overflow"]
        media_overflow += r["media_overflow"]
        gap_max = max(gap_max, r["gap_max"] * 1000)
        connect += r["connect_ms"]
        fps += r["fps"]
        first_text += r["first_text_ms"]
        first_audio += r["first_audio_ms"]
        errors.update(r["errors"])
        counts.update(r["counts"])
        cpu_window += r["cpu_window"]
        cpu_total += r["cpu_total"]
    fps += [0.0] * (config["sessions"] - len(fps))  # a lost worker's sessions had no frames
    # A bin's midpoint can lie past the largest gap seen in it: a percentile never exceeds the maximum.
    gap = {
        q: None if (x := _hist_rank(gaps, gap_overflow, v, GAP_BIN_MS, 0.5)) is None else min(x, gap_max)
        for q, v in (("p50", 0.5), ("p99", 0.99))
    }
    media_seen = [float(b) for b, c in enumerate(media) if c] + media_overflow
    fps_p5 = _rank(fps, 0.05)
    lost = counts["text_out_of_order"] + counts["text_mismatch"]
    p99 = gap["p99"]
    result = {
        **config,
        "sessions_connected": len(connect),
        "connect_ms": _spread(connect),
        "frames": sum(gaps) + len(gap_overflow),
        "fps_per_session": {"p5": _r(fps_p5, 2), "p50": _r(_rank(fps, 0.5), 2), "min": _r(min(fps), 2)},
        "frame_gap_ms": {"p50": _r(gap["p50"], 2), "p99": _r(p99, 2), "max": _r(gap_max, 2)},
        "media_gap_ms": {
            "p50": _hist_rank(media, media_overflow, 0.5, 1.0, 0.0),
            "p99": _hist_rank(media, media_overflow, 0.99, 1.0, 0.0),
            "max": max(media_seen, default=None),
        },
        "frames_skipped": counts["frames_skipped"],  # seq gaps: frames the server dropped for this client
        "text": {
            "deltas": counts["text_deltas"],
            "lost": lost,
            "out_of_order": counts["text_out_of_order"],
            "mismatched_replies": counts["text_mismatch"],
        },
        "replies": {
            "sent": counts["messages_sent"],
            "started": counts["replies_started"],
            **{s: counts[f"replies_{s}"] for s in ("complete", "interrupted", "error")},
        },
        "speech": {
            "sentences": counts["speech_messages"],
            "audio_messages": counts["audio_messages"],
            "audio_kb": round(counts["audio_bytes"] / 1000, 1),
        },
        "first_text_ms": _spread(first_text),
        "first_audio_ms": _spread(first_audio),
        "errors": dict(errors),
        "server": _server(pid, before, window),
        "tool": {
            "processes": config["workers"] + 1,
            "cpu_percent": round(cpu_window / config["seconds"] * 100, 1),  # workers, in the window
            "cpu_s_total": round(cpu_total + own_cpu, 1),  # workers and the parent, the whole run
        },
        "target": {
            "fps_p5": TARGET_FPS_P5,
            "gap_p99_ms": TARGET_GAP_P99_MS,
            "met": fps_p5 is not None
            and fps_p5 >= TARGET_FPS_P5
            and p99 is not None
            and p99 <= TARGET_GAP_P99_MS,
        },
    }
    machine, server = config.get("machine_cpu_percent"), result["server"]
    if machine is not None and server and server.get("cpu_percent") is not None:
        # What the rest of the machine ran meanwhile (other people's jobs): the measurement's noise.
        result["others_cpu_percent"] = round(
            machine - server["cpu_percent"] - result["tool"]["cpu_percent"], 1
        )
    return result


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) or "none"
    return "-" if value is None else str(value)


def table(result: dict[str, Any]) -> str:
    """The report for people: one figure a line (the server's samples are left to --json)."""
    lines = []
    for key, value in result.items():
        if key == "server" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "samples"}
            for k, v in value.items():
                lines.append(f"{'server ' + k:>22}: {_fmt(v)}")
            continue
        lines.append(f"{key:>22}: {_fmt(value)}")
    return "\n".join(lines)
