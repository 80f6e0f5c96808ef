"""`mien loadtest` end to end, briefly: a few sessions from two worker processes against a live server with
the scripted model; the report's shape and sanity, never its timings."""

from __future__ import annotations

import json
import os

import pytest

from bench import loadtest
from server.runner import LiveServer


def _run(capsys: pytest.CaptureFixture[str], server: LiveServer, *args: str) -> dict:
    argv = ["--url", server.ws_url, "--sessions", "5", "--rate", "50", "--seconds", "1.5", "--workers", "2"]
    # The server runs in this process: its CPU and RSS are ours.
    code = loadtest.main([*argv, "--server-pid", str(os.getpid()), "--sample-every", "0.5", "--json", *args])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def _sane(report: dict) -> None:
    assert report["sessions_connected"] == 5
    assert report["errors"] == {}
    assert report["frames"] > 0
    assert report["fps_per_session"]["p5"] > 0
    for key in ("frame_gap_ms", "media_gap_ms", "connect_ms"):
        assert set(report[key]) == {"p50", "p99", "max"}
        assert 0 < report[key]["p50"] <= report[key]["p99"] <= report[key]["max"]
    assert report["text"]["lost"] == 0
    server = report["server"]
    assert server["pid"] == os.getpid()
    assert server["cpu_percent"] >= 0
    assert server["rss_mb"]["first"] > 0 and len(server["samples"]) >= 2
    assert report["tool"]["processes"] == 3 and report["tool"]["cpu_s_total"] > 0
    assert set(report["target"]) == {"fps_p5", "gap_p99_ms", "met"}


def test_chatting_with_scripted_lines(mien: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    report = _run(capsys, mien, "--mode", "chatting", "--scripted", "--every", "0.5")
    _sane(report)
    assert report["mode"] == "chatting" and report["distinct_addresses"]
    assert report["replies"]["sent"] > 0 and report["replies"]["complete"] > 0
    assert report["text"]["deltas"] > 0
    assert report["first_text_ms"]["p50"] is not None


def test_model_replies(mien: LiveServer, fake_llm, capsys: pytest.CaptureFixture[str]) -> None:
    fake_llm.queue(*[[{"content": "[joy] Hello"}, {"content": " there, friend."}]] * 10)
    report = _run(capsys, mien, "--mode", "chatting", "--every", "1", "--no-compression")
    _sane(report)
    assert not report["compression"] and not report["scripted"]
    assert report["text"]["deltas"] > 0 and report["replies"]["complete"] > 0


def test_the_command_is_registered() -> None:
    from server.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["loadtest", "--help"])
    assert exit_.value.code == 0
