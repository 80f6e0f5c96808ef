"""Valence that agrees with people (issue 16): known answers on human-labelled review sentences the blend
was not tuned on, negation, and the emotion accuracy the valence work must keep."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bench.valence import before, uci_sentences
from server.reply.feelings import FEELINGS, _english_like, evaluate, read_labelled
from server.reply.valence import Readings, blend, sentences
from tests.server.test_feelings import DATA


def _r(values: list[float], labels: list[float]) -> float:
    return float(np.corrcoef(values, labels)[0, 1])


@pytest.fixture(scope="module")
def imdb() -> list[tuple[str, float]]:
    """400 IMDb review sentences (UCI, CC BY 4.0), the held-out set: nothing was chosen on them."""
    rows = random.Random(16).sample(uci_sentences()["imdb"], 400)
    FEELINGS.warm(t for t, _ in rows)
    return rows


def test_valence_agrees_with_people_better_than_vader_alone(imdb: list[tuple[str, float]]) -> None:
    labels = [y for _, y in imdb]
    mien = _r([FEELINGS.profile(t)["valence"] for t, _ in imdb], labels)
    vader = _r([FEELINGS.compound(t) for t, _ in imdb], labels)
    old = _r([before(t) for t, _ in imdb], labels)
    # Measured: VADER 0.66, the old valence 0.65, the blend 0.73 (bench/valence.py on all 1000).
    assert mien >= 0.70 > vader and mien >= old + 0.04, (mien, vader, old)


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("I am happy.", "I am not happy."),
        ("This is good.", "This is not good."),
        ("I liked it.", "I didn't like it."),
        ("The service was great.", "The service was not great."),
        ("We had fun.", "We didn't have fun."),
        ("I love this place.", "I don't love this place."),
    ],
)
def test_negation_turns_valence_down(plain: str, negated: str) -> None:
    assert FEELINGS.valence(plain) > 0.2 and FEELINGS.valence(negated) < FEELINGS.valence(plain) - 0.5


@pytest.mark.parametrize(
    ("plain", "negated"), [("This is bad.", "This is not bad."), ("I hate it.", "I don't hate it.")]
)
def test_negated_bad_is_less_bad(plain: str, negated: str) -> None:
    assert FEELINGS.valence(plain) < -0.3 and FEELINGS.valence(negated) > FEELINGS.valence(plain) + 0.3


def test_intensifiers_strengthen_most_of_the_time() -> None:
    """VADER's booster rules carry intensity; nade's readings are noisier ("extremely bad" reads a little
    milder than "bad" to them), so this holds for most pairs, not all."""
    pairs = [
        ("I am happy.", "I am very happy."),
        ("The movie was good.", "The movie was really good."),
        ("That was annoying.", "That was incredibly annoying."),
        ("I like it.", "I really like it."),
        ("This is bad.", "This is extremely bad."),
        ("It is terrible.", "It is utterly terrible."),
    ]
    stronger = sum(abs(FEELINGS.valence(b)) > abs(FEELINGS.valence(a)) for a, b in pairs)
    assert stronger >= 4, stronger


def test_blend_is_bounded_and_monotone() -> None:
    values = [blend(Readings(c, 0.14, 0.0)) for c in np.linspace(-1, 1, 21)]
    assert all(-1 < v < 1 for v in values) and values == sorted(values)
    assert blend(Readings(0.0, 0.14, 0.0)) == 0.0
    assert blend(Readings(0.5, 0.4, 0.5)) > blend(Readings(0.5, 0.14, 0.0))


def test_sentences_are_read_one_by_one() -> None:
    assert sentences("Flight delayed again. Thanks a lot! Great job, @united.") == [
        "Flight delayed again.",
        "Thanks a lot!",
        "Great job, @united.",
    ]
    assert sentences("Mr. smith was late.") == ["Mr. smith was late."]


def test_short_english_without_function_words_is_read() -> None:
    # The old check zeroed these (four words or more, none of its English list): 5 % of review sentences.
    for text in ("Great product, fast shipping!", "Will never, ever go back.", "Very good lunch spot."):
        assert _english_like(text) and FEELINGS.profile(text)["valence"] != 0.0


def test_emotion_accuracy_is_kept() -> None:
    result = evaluate(read_labelled(str(DATA / "feelings_eval.tsv")))
    assert result["accuracy"] >= 0.93, result  # 93.3 % before and after the valence work
