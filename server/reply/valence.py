"""How pleasant a line reads, in [-1, 1]: three readings of the text, blended.

- VADER's compound (MIT; Hutto & Gilbert 2014): a rated lexicon with rules for negation, intensifiers,
  "but", capitals and exclamation marks. Alone, it is what Mien used to report.
- The emojis nade's fastText model (trained on emoji use in social media) predicts for the text, each
  weighed by its sentiment in the Emoji Sentiment Ranking (data/emoji_valence.toml: 1.6 M tweets labelled
  by 83 people, Kralj Novak et al. 2015). It reads the slang, hashtags and phrasing people use online.
- The pleasure (PAD) of the Plutchik emotions nade scores, as mapped onto Mien's emotions.

The readings disagree in different places, so their sum agrees with people more than any one of them does.
The three weights, the neutral point and the scale were chosen on the tuning splits of bench/valence.py
(human-labelled tweets and review sentences), never on its held-out sets; README "Emotion inference
accuracy" has the figures.

A text of several sentences is also read sentence by sentence ("Flight delayed again. Thanks a lot."), and
the mean of its sentences' valences is averaged with the whole text's. Letting a sentence keep part of the
previous one's mood was measured too and did not help (bench/valence.py's tuning splits), so it is not done.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

EMOJI_VALENCE: dict[str, float] = tomllib.loads(
    (Path(__file__).parent / "data" / "emoji_valence.toml").read_text(encoding="utf-8")
)

# Chosen on the tuning splits, rounded toward VADER's share (VADER is stronger on some text than on the
# tuning splits; the optimum there, 3.5 and 1.0, was within 0.002 of these in mean r).
W_COMPOUND = 1.0
W_EMOJI = 3.0
W_EMOTION = 0.75
# nade predicts mostly friendly emojis for any text: the emoji reading of tweets people labelled neutral
# (tuning split) averages 0.14, and is taken as zero.
EMOJI_NEUTRAL = 0.14
# The sum maps into (-1, 1) the way VADER maps its own (x / sqrt(x² + α)): smooth, so "very happy" stays
# above "happy" instead of both being clipped to 1.
ALPHA = 2.0
WHOLE = 0.4  # the whole text's weight against the mean of its sentences'

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


class Readings(NamedTuple):
    """The three readings of one piece of text."""

    compound: float  # VADER, [-1, 1]
    emoji: float  # emoji_valence of nade's emoji prediction
    emotion: float  # pleasure of nade's emotions


Reader = Callable[[str], Readings]


def emoji_valence(probabilities: Mapping[str, float]) -> float:
    """Expected sentiment of the emojis predicted for a text (probabilities per emoji)."""
    return sum(p * EMOJI_VALENCE.get(emoji, 0.0) for emoji, p in probabilities.items())


def blend(readings: Readings) -> float:
    compound, emoji, emotion = readings
    raw = W_COMPOUND * compound + W_EMOJI * (emoji - EMOJI_NEUTRAL) + W_EMOTION * emotion
    return raw / math.sqrt(raw * raw + ALPHA)


def sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text.strip())) if s]


def valence(text: str, read: Reader) -> float:
    """The text's valence in [-1, 1]; `read` gives the three readings of a piece of text."""
    whole = blend(read(text))
    parts = sentences(text)
    if len(parts) > 1:
        whole = WHOLE * whole + (1 - WHOLE) * sum(blend(read(s)) for s in parts) / len(parts)
    return round(whole, 4)
