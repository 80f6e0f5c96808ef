"""Mien's closed emotion vocabulary: names, PAD coordinates, FACS prototypes and tag-word aliases.

The tables live in data/emotions.toml and data/aliases.toml (sources cited there); this module only
loads and checks them, so a bad table fails at import rather than mid-conversation.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from typing import Any

import numpy as np

# Factors scale a cue's intensity; callers clip the product to [0, 1].
MAX_ALIAS_FACTOR = 1.5

# "12", "R12", "L2": an AU number with an optional side (subject's Right / Left).
_AU_KEY = re.compile(r"^(?P<side>[LR]?)(?P<au>\d+)$")


def load_table(name: str) -> dict[str, Any]:
    """Parse one TOML file from animation/data (packaged with the wheel, so use importlib.resources)."""
    with resources.files("animation").joinpath("data", name).open("rb") as f:
        return tomllib.load(f)


def parse_au_key(key: str) -> tuple[int, str]:
    """'R12' -> (12, 'R'); '6' -> (6, ''). Raises ValueError on anything else."""
    m = _AU_KEY.match(key)
    if m is None:
        raise ValueError(f"bad action-unit key {key!r}: expected e.g. '12', 'R12' or 'L2'")
    return int(m["au"]), m["side"]


def _load_emotions() -> tuple[tuple[str, ...], np.ndarray, tuple[dict[str, float], ...]]:
    rows = load_table("emotions.toml")["emotion"]
    names = tuple(str(r["name"]) for r in rows)
    if len(set(names)) != len(names):
        raise ValueError("emotions.toml: duplicate emotion name")
    pad = np.array([r["pad"] for r in rows], dtype=np.float32)
    if pad.shape != (len(names), 3) or np.any(np.abs(pad) > 1.0):
        raise ValueError("emotions.toml: pad must be three values in [-1, 1]")
    prototypes: list[dict[str, float]] = []
    for r in rows:
        proto = {str(k): float(v) for k, v in r["au"].items()}
        for k, v in proto.items():
            parse_au_key(k)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"emotions.toml: {r['name']} AU {k} intensity {v} outside (0, 1]")
        prototypes.append(proto)
    return names, pad, tuple(prototypes)


EMOTIONS: tuple[str, ...]
PAD: np.ndarray  # float32 [n_emotions, 3]: pleasure, arousal, dominance
AU_PROTOTYPES: tuple[dict[str, float], ...]  # per emotion, AU key -> intensity
EMOTIONS, PAD, AU_PROTOTYPES = _load_emotions()
EMOTION_INDEX: dict[str, int] = {name: i for i, name in enumerate(EMOTIONS)}
N_EMOTIONS = len(EMOTIONS)
NEUTRAL = EMOTION_INDEX["neutral"]

assert EMOTIONS == (
    "neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust", "contempt", "thinking", "confusion",
), "emotions.toml must list the ten emotions in their wire order"  # fmt: skip


def _load_aliases() -> dict[str, tuple[str, float]]:
    table = load_table("aliases.toml")
    aliases: dict[str, tuple[str, float]] = {}
    for emotion, words in table.items():
        if emotion not in EMOTION_INDEX:
            raise ValueError(f"aliases.toml: unknown emotion table [{emotion}]")
        for word, factor in words.items():
            key = word.strip().lower()
            if key in aliases or key in EMOTION_INDEX:
                raise ValueError(f"aliases.toml: {word!r} listed twice or shadows an emotion name")
            if not 0.0 < float(factor) <= MAX_ALIAS_FACTOR:
                raise ValueError(f"aliases.toml: {word!r} factor {factor} outside (0, {MAX_ALIAS_FACTOR}]")
            aliases[key] = (emotion, float(factor))
    return aliases


ALIASES: dict[str, tuple[str, float]] = _load_aliases()


def resolve(word: str) -> tuple[str, float] | None:
    """Map a tag word to (emotion, intensity factor); None if Mien has no reading for it.

    Case-insensitive and whitespace-tolerant. Exact emotion names give factor 1.0.
    """
    key = word.strip().lower()
    if key in EMOTION_INDEX:
        return key, 1.0
    return ALIASES.get(key)
