from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pytest

from animation.emotions import (
    ALIASES,
    AU_PROTOTYPES,
    EMOTION_INDEX,
    EMOTIONS,
    MAX_ALIAS_FACTOR,
    PAD,
    parse_au_key,
    resolve,
)


def test_vocabulary_is_the_ten_emotions_in_order() -> None:
    assert EMOTIONS == (
        "neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust", "contempt",
        "thinking", "confusion",
    )  # fmt: skip
    assert all(EMOTIONS[i] == name for name, i in EMOTION_INDEX.items())
    assert len(EMOTION_INDEX) == 10


def test_pad_coordinates_are_plausible() -> None:
    assert PAD.shape == (10, 3) and np.all(np.abs(PAD) <= 1.0)
    p = {name: PAD[i] for name, i in EMOTION_INDEX.items()}
    assert np.all(p["neutral"] == 0.0)
    assert p["joy"][0] > 0.5  # pleasant
    for negative in ("sadness", "anger", "fear", "disgust", "contempt", "confusion"):
        assert p[negative][0] < 0.0, negative
    assert p["sadness"][1] < 0.0 < p["fear"][1]  # low vs high arousal
    assert p["anger"][2] > 0.0 > p["fear"][2]  # dominant vs submissive (R&M 1977)


def test_every_emotion_but_neutral_has_a_prototype() -> None:
    for name, proto in zip(EMOTIONS, AU_PROTOTYPES, strict=True):
        assert bool(proto) == (name != "neutral"), name


def test_emfacs_prototypes_use_the_cited_action_units() -> None:
    expected = {
        "joy": {"6", "12"},
        "sadness": {"1", "4", "15", "17", "54"},  # the EMFACS variant 1+4+15B+17 with 54 (head down)
        "surprise": {"1", "2", "5", "26"},
        "fear": {"1", "2", "4", "5", "7", "20", "26"},  # the full 1+2+4+5+7+20+26 (Matsumoto et al. 2008)
        "anger": {"4", "5", "7", "23", "24", "54"},  # 4+5+7+23 with 24 (pressed lips); 54: Mien's glower
        # 9 and 10 with 15+16 (EMFACS 9+15+16 and 10+15+16 in one face); 4 is the lowered brow (Mien's)
        "disgust": {"4", "9", "10", "15", "16"},
        "contempt": {"R12", "R14"},
    }
    for name, aus in expected.items():
        assert set(AU_PROTOTYPES[EMOTION_INDEX[name]]) == aus, name


def test_au_keys_parse() -> None:
    assert parse_au_key("12") == (12, "")
    assert parse_au_key("R12") == (12, "R")
    assert parse_au_key("L2") == (2, "L")
    for bad in ("", "X12", "12R", "AU12", "r12"):
        with pytest.raises(ValueError):
            parse_au_key(bad)


def test_resolve_exact_names() -> None:
    for name in EMOTIONS:
        assert resolve(name) == (name, 1.0)


def test_resolve_is_case_and_whitespace_insensitive() -> None:
    assert resolve("  HaPpY \n") == ("joy", 1.0)
    assert resolve("JOY") == ("joy", 1.0)
    assert resolve("\tPuzzled ") == ("confusion", 1.0)


def test_resolve_unknown_is_none() -> None:
    for word in ("", "   ", "banana", "happyy", "joy!", "very happy"):
        assert resolve(word) is None, word


@pytest.mark.parametrize(
    ("word", "emotion"),
    [
        ("happy", "joy"), ("ecstatic", "joy"), ("smiles", "joy"), ("laughs", "joy"), ("grins", "joy"),
        ("furious", "anger"), ("annoyed", "anger"), ("worried", "fear"), ("terrified", "fear"),
        ("sighs", "sadness"), ("cries", "sadness"), ("frowns", "sadness"), ("gasps", "surprise"),
        ("wow", "surprise"), ("gross", "disgust"), ("smug", "contempt"), ("sneer", "contempt"),
        ("hmm", "thinking"), ("pondering", "thinking"), ("perplexed", "confusion"), ("calm", "neutral"),
    ],
)  # fmt: skip
def test_common_words(word: str, emotion: str) -> None:
    got = resolve(word)
    assert got is not None and got[0] == emotion


def test_intensity_factors_order_within_a_family() -> None:
    def factor(w: str) -> float:
        got = resolve(w)
        assert got is not None
        return got[1]

    assert factor("annoyed") < factor("angry") < factor("furious")
    assert factor("worried") < factor("scared") < factor("terrified")
    assert factor("pleased") < factor("happy") < factor("ecstatic")


def test_alias_table_size_targets_and_factors() -> None:
    assert len(ALIASES) >= 150
    for word, (emotion, factor) in ALIASES.items():
        assert emotion in EMOTION_INDEX, word
        assert 0.0 < factor <= MAX_ALIAS_FACTOR, word
        assert word == word.strip().lower() and word not in EMOTION_INDEX
        assert resolve(word) == (emotion, factor)


def test_alias_file_lists_each_word_once() -> None:
    # The loader would reject duplicates; this checks the file itself, independently of it.
    with resources.files("animation").joinpath("data", "aliases.toml").open("rb") as f:
        table = tomllib.load(f)
    words = [w.lower() for group in table.values() for w in group]
    assert len(words) == len(set(words))
    assert set(table) <= set(EMOTIONS)
