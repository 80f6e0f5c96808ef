"""Offline emotion inference for text the model left untagged.

Two MIT-licensed models that ship their data in their wheels: `nade` (fastText emoji prediction +
LightGBM, scores for Plutchik's eight basic emotions) and VADER (valence). nade names which emotion;
VADER's valence tempers it (a strong emotion needs some polarity behind it), and text with no clear
signal infers nothing, leaving the face to its baseline rather than guessing.

Both load lazily (about a second); call `infer` from a worker thread, never on the event loop.
"""

from __future__ import annotations

import re
import threading
import warnings
from dataclasses import dataclass
from typing import Any

# Plutchik's eight (nade) -> Mien's vocabulary. Anticipation and trust have no face of their own in
# EMFACS; they read as mild interest/warmth, so they lend weight to thinking and joy at reduced intensity.
_PLUTCHIK_TO_MIEN: dict[str, tuple[str, float]] = {
    "joy": ("joy", 1.0),
    "sadness": ("sadness", 1.0),
    "anger": ("anger", 1.0),
    "fear": ("fear", 1.0),
    "surprise": ("surprise", 1.0),
    "disgust": ("disgust", 1.0),
    "trust": ("joy", 0.5),
    "anticipation": ("thinking", 0.4),
}
_MIMICS_FACE = frozenset({"joy", "sadness", "anger", "fear", "surprise", "disgust"})
_NEGATIVE = frozenset({"sadness", "anger", "fear", "disgust"})
_CONFUSED = re.compile(
    r"\b(confus\w*|not sure|unsure|puzzl\w*|don't understand|no idea|what do you mean)\b", re.I
)
_SURPRISED = re.compile(
    r"\b(wow|whoa|no way|unexpected|(?:didn't|did not|never) expect\w*|surpris\w*|can't believe|"
    r"cannot believe|out of nowhere)\b",
    re.I,
)
_THINKING = re.compile(r"\b(hmm+|let me think|let me see|i wonder|thinking about|consider(ing)?)\b", re.I)

# Thresholds on nade's scores, checked on tests/server/data/feelings_labelled.tsv: below MIN_SCORE the best
# guess is noise; trust/anticipation (no face of their own) need more; above STRONG nade is unmistakable.
MIN_SCORE = 0.22
MIN_SCORE_MILD = 0.35
STRONG = 0.6


@dataclass(frozen=True)
class Inference:
    emotion: str
    intensity: float
    scores: dict[str, float]


class Feelings:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nade: Any = None
        self._vader: Any = None

    def load(self) -> None:
        with self._lock:
            if self._nade is None:
                with warnings.catch_warnings():
                    # nade unpacks its LightGBM models on first use and warns about it.
                    warnings.simplefilter("ignore")
                    from nade import Nade
                    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                    self._nade = Nade()
                    self._vader = SentimentIntensityAnalyzer()

    def scores(self, text: str) -> dict[str, float]:
        self.load()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = self._nade.predict(text.replace("\n", " "))
        return {k: float(v[0]) for k, v in raw.items()}

    def infer(self, text: str) -> Inference | None:
        """The sentence's dominant emotion, or None when the text carries no clear one."""
        text = text.strip()
        if not _mostly_latin(text):
            return None  # the models are English-only: stay calm rather than guess wrong
        if _CONFUSED.search(text):
            return Inference("confusion", 0.6, {})
        if _THINKING.search(text):
            return Inference("thinking", 0.5, {})
        scores = self.scores(text)
        label = max(scores, key=scores.__getitem__)
        score = scores[label]
        if _SURPRISED.search(text) and score < STRONG:
            # nade rarely ranks surprise first (its emoji proxies blur it with joy); explicit words decide
            # unless another emotion is unmistakable ("a lovely surprise party" stays joy).
            return Inference("surprise", 0.7, scores)
        if score < (MIN_SCORE if label in _MIMICS_FACE else MIN_SCORE_MILD):
            return None
        compound = float(self._vader.polarity_scores(text)["compound"])
        # Contradictory weak signals: a calm face beats a wrong strong emotion.
        if score < STRONG and (
            (label in _NEGATIVE and compound > 0.5) or (label == "joy" and compound < -0.3)
        ):
            return None
        emotion, factor = _PLUTCHIK_TO_MIEN[label]
        intensity = min(1.0, factor * (0.35 + 0.5 * score + 0.3 * abs(compound)))
        return Inference(emotion, round(intensity, 3), scores)


def _mostly_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) / len(letters) > 0.8


FEELINGS = Feelings()
