"""Offline emotion inference on a small labelled set written for these tests."""

from __future__ import annotations

from pathlib import Path

from server.feelings import FEELINGS

LABELLED = Path(__file__).with_name("data") / "feelings_labelled.tsv"


def load() -> list[tuple[str, str]]:
    rows = []
    for line in LABELLED.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            sentence, label = line.split("\t")
            rows.append((sentence, label))
    return rows


def test_labelled_set_accuracy_and_variety() -> None:
    rows = load()
    got = [(label, (inf.emotion if (inf := FEELINGS.infer(s)) else "none")) for s, label in rows]
    correct = sum(a == b for a, b in got)
    distinct = {b for _, b in got} - {"none"}
    assert len(distinct) >= 5, distinct
    assert correct / len(rows) >= 0.8, [(s, a, b) for (s, _), (a, b) in zip(rows, got, strict=True) if a != b]


def test_intensities_are_in_range() -> None:
    for sentence, _ in load():
        inf = FEELINGS.infer(sentence)
        if inf is not None:
            assert 0.0 < inf.intensity <= 1.0


def test_non_latin_text_stays_calm() -> None:
    assert FEELINGS.infer("私はとても怒っています！") is None
    assert FEELINGS.infer("Я очень зол!") is None
    assert FEELINGS.infer("   ") is None
