"""Offline emotion inference: a small development set and the 120-sentence evaluation set."""

from __future__ import annotations

from pathlib import Path

import pytest

from animation.emotions import EMOTIONS
from server.reply.feelings import FEELINGS, evaluate, read_labelled

DATA = Path(__file__).with_name("data")


def test_development_set_accuracy_and_variety() -> None:
    rows = [
        (s, "neutral" if label == "none" else label)
        for s, label in read_labelled(str(DATA / "feelings_labelled.tsv"))
    ]
    result = evaluate(rows)
    produced = {e for e in EMOTIONS for row in result["confusion"].values() if row[e]} - {"neutral"}
    assert len(produced) >= 5, produced
    assert result["accuracy"] >= 0.8, result


def test_evaluation_set_accuracy() -> None:
    rows = read_labelled(str(DATA / "feelings_eval.tsv"))
    assert len(rows) >= 120
    result = evaluate(rows)
    assert result["accuracy"] >= 0.85, result
    # Every emotion is recognised at least half the time (no class silently dead).
    for emotion, row in result["confusion"].items():
        assert row[emotion] >= sum(row.values()) / 2, (emotion, row)


def test_intensities_are_in_range() -> None:
    for sentence, _ in read_labelled(str(DATA / "feelings_eval.tsv")):
        inf = FEELINGS.infer(sentence)
        if inf is not None:
            assert 0.0 < inf.intensity <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "私はとても怒っています！",
        "Я очень зол!",
        "   ",
        "Je suis très en colère contre toi.",
        "Ich bin so wütend auf dich!",
    ],
)
def test_non_english_text_stays_calm(text: str) -> None:
    assert FEELINGS.infer(text) is None
    profile = FEELINGS.profile(text)
    assert profile["emotions"] == {"neutral": 1.0} and profile["valence"] == 0.0


def test_negation_blocks_the_lexicon() -> None:
    assert FEELINGS.scores("I am happy")["joy"] > FEELINGS.scores("I am not happy")["joy"]


def test_profile_shape_and_ranges() -> None:
    p = FEELINGS.profile("I'm absolutely furious about this!")
    assert set(p) == {"text", "emotions", "valence", "arousal"}
    assert set(p["emotions"]) == set(EMOTIONS)
    assert max(p["emotions"], key=p["emotions"].__getitem__) == "anger"
    assert all(0.0 <= w <= 1.0 for w in p["emotions"].values())
    assert -1.0 <= p["valence"] < 0 and 0 < p["arousal"] <= 1.0
    calm = FEELINGS.profile("The library opens at nine.")
    assert calm["emotions"]["neutral"] > 0.5 and abs(calm["arousal"]) < p["arousal"]
