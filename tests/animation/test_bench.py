from __future__ import annotations

import json

import pytest

from bench import animation as bench


def test_bench_prints_one_json_measurement(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--sessions", "16", "--seconds", "1", "--loop-sessions", "4", "--json"])
    result = json.loads(capsys.readouterr().out)
    for key in ("sessions", "frames_per_second", "per_session_loop_frames_per_second", "ratio"):
        assert result[key] > 0
    assert result["sessions"] == 16 and result["steps"] == 30 and result["calls"] > 0
    assert result["frames_per_second"] == pytest.approx(16 * 30 / result["step_seconds"], rel=0.02)
    assert result["ratio"] == pytest.approx(
        result["frames_per_second"] / result["per_session_loop_frames_per_second"], rel=0.02
    )


def test_churn_measures_one_face_after_many_came_and_went(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--churn", "300", "--seconds", "0.5", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert (result["churn_faces"], result["live_faces"], result["steps"]) == (300, 1, 15)
    assert result["fresh_ms_per_step"] > 0 and result["churned_ms_per_step"] > 0
    assert result["capacity"] <= 8 and result["frame_rows"] == 300  # the last slot stayed: id 299


def test_script_is_deterministic_and_speaks() -> None:
    a, b = bench.script(5, 6.0, 0.5, 3), bench.script(5, 6.0, 0.5, 3)
    assert [(e[0], e[1], e[2]) for e in a] == [(e[0], e[1], e[2]) for e in b]
    kinds = {e[2] for e in a}
    assert {"cue", "visemes", "state"} <= kinds
    times, names = bench.sentence(__import__("numpy").random.default_rng(0))
    assert names[-1] == "sil" and len(times) == len(names)


def test_bench_rejects_nonsense() -> None:
    with pytest.raises(SystemExit):
        bench.main(["--sessions", "0", "--json"])
    with pytest.raises(SystemExit):
        bench.main(["--speaking", "1.5", "--json"])
    with pytest.raises(SystemExit):
        bench.main(["--churn", "0", "--json"])
