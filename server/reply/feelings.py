"""Offline emotion inference for text the model left untagged (and for `mien emotion`).

Three signals, combined per Mien emotion:
- `nade` (MIT; fastText emoji prediction + LightGBM) scores Plutchik's eight basic emotions;
- Mien's own alias lexicon (`animation/data/aliases.toml`: "furious", "puzzled", "smug", …), negation-aware;
- a few phrase cues for the conversational states nade cannot see ("let me think", "what do you mean").
VADER (MIT) gives a compound polarity, which vetoes weak contradictions (a "joy" guess on a negative
sentence). Text with no clear signal, or not in English, infers nothing: a calm face beats a wrong strong
emotion. The valence `profile` reports blends VADER with two readings of nade's (valence.py).

The models load lazily (about a second); call `infer`/`profile` from a worker thread, never on the loop.
"""

from __future__ import annotations

import functools
import re
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from animation.emotions import ALIASES, EMOTION_INDEX, EMOTIONS, PAD
from server.reply import valence as _valence

# Plutchik's eight (nade) -> Mien's vocabulary. Anticipation and trust have no face of their own in
# EMFACS; they lend a little weight to thinking and joy.
_PLUTCHIK_TO_MIEN: dict[str, tuple[str, float]] = {
    "joy": ("joy", 1.0),
    "sadness": ("sadness", 1.0),
    "anger": ("anger", 1.0),
    "fear": ("fear", 1.0),
    "surprise": ("surprise", 1.0),
    "disgust": ("disgust", 1.0),
    "trust": ("joy", 0.3),
    "anticipation": ("thinking", 0.3),
}
# Aliases that mislead in running text ("I think…", "the blue one", "lost the keys").
_AMBIGUOUS = frozenset(
    "blue content cross warm rest normal superior oh think thinks interested focused calculating friendly "
    "love loving tense proud sorry hurt concerned torn mad cry".split()
)
_NEGATIONS = frozenset("not never no isn't wasn't don't didn't aren't can't cannot hardly".split())
_PHRASES: tuple[tuple[str, float, re.Pattern[str]], ...] = tuple(
    (emotion, weight, re.compile(pattern, re.I))
    for emotion, weight, pattern in [
        (
            "confusion",
            0.7,
            r"\b(don'?t understand|no idea|what do you mean|doesn'?t make (any )?sense|"
            r"(not sure|unsure) (i|what|which|how|if)|i'?m lost|can'?t keep track|which one is it)\b",
        ),
        ("confusion", 0.4, r"\?\s*$"),
        (
            "thinking",
            0.7,
            r"\b(let me (think|see|check)|i wonder|thinking about|give me a (second|moment)|"
            r"weigh(ing)? the|trying to remember|perhaps we|one possibility|before i (decide|answer))\b",
        ),
        (
            "surprise",
            0.7,
            r"\b(wow|whoa|no way|(didn'?t|did not|never) (see|expect)\w*|surpris\w*|"
            r"can'?t believe|cannot believe|out of nowhere|off guard|had no idea|unexpectedly)\b",
        ),
        (
            "contempt",
            0.7,
            r"\b(as if|whatever|pathetic|beneath me|so-called|spare me|how typical|"
            r"laughable|know-it-all|posers?|rolled (her|his|their) eyes|pitiful)\b",
        ),
        ("sadness", 0.6, r"\b(condolences|passed away|say goodbye|heartbreak\w*|hopeless|devastated)\b"),
        ("fear", 0.6, r"\b(what if|i'?m afraid|dread\w*)\b"),
        ("anger", 0.6, r"\b(how dare|outrageous|infuriat\w*|blood boil|sick and tired)\b"),
    ]
)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")

MIN_SCORE = 0.3  # below this the best guess is noise for a sentence
STRONG = 0.6  # above this one signal is unmistakable


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
        # The same words always read the same (the models are deterministic), and a line many sessions
        # hear (a site's greeting, a scripted answer) is read once. Results are shared: never mutated.
        self._remembered = functools.lru_cache(maxsize=4096)(self._infer)
        self._readings = functools.lru_cache(maxsize=4096)(self._read)
        self._nade_seen: dict[str, dict[str, float]] = {}  # scores() and the valence both need nade's

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

    def nade_scores(self, text: str) -> dict[str, float]:
        """Plutchik's eight emotions, each in [0, 1], as nade scores them."""
        seen = self._nade_seen.get(text)
        return dict(seen if seen is not None else self._read_nade([text])[0])

    def warm(self, texts: Iterable[str]) -> None:
        """Score many texts and their sentences with nade in batches (a batch costs a fraction of as many
        single calls), so that `profile` on them is quick: for benchmarks and bulk use."""
        todo = {t for text in texts for t in (text.strip(), *_valence.sentences(text))}
        todo = sorted(todo - self._nade_seen.keys())
        for i in range(0, len(todo), 512):
            self._read_nade(todo[i : i + 512])

    def _read_nade(self, texts: list[str]) -> list[dict[str, float]]:
        self.load()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = self._nade.predict([t.replace("\n", " ") for t in texts])
        columns = {k: v.to_pylist() for k, v in raw.items()}
        rows = [{k: float(column[i]) for k, column in columns.items()} for i in range(len(texts))]
        with self._lock:
            if len(self._nade_seen) > 16384:
                self._nade_seen.clear()
            self._nade_seen.update(zip(texts, rows, strict=True))
        return rows

    def emoji_probabilities(self, text: str) -> dict[str, float]:
        """nade's first stage: how likely each of its emojis is to go with the text."""
        self.load()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            [(probs, emojis)] = self._nade.predict_emojis(
                [text.replace("\n", " ")], k=self._nade.max_k, sort_by_key=True
            )
        return dict(zip(emojis.to_pylist(), probs.to_pylist(), strict=True))

    def compound(self, text: str) -> float:
        """VADER's compound polarity in [-1, 1]."""
        self.load()
        return float(self._vader.polarity_scores(text)["compound"])

    def readings(self, text: str) -> _valence.Readings:
        return self._readings(text.strip())

    def _read(self, text: str) -> _valence.Readings:
        pleasure = 0.0
        for label, score in self.nade_scores(text).items():
            emotion, factor = _PLUTCHIK_TO_MIEN[label]
            pleasure += factor * score * float(PAD[EMOTION_INDEX[emotion], 0])
        emoji = _valence.emoji_valence(self.emoji_probabilities(text))
        return _valence.Readings(self.compound(text), emoji, pleasure)

    def valence(self, text: str) -> float:
        """How pleasant the text reads, in [-1, 1] (valence.py blends three readings)."""
        return _valence.valence(text, self.readings)

    def scores(self, text: str) -> dict[str, float]:
        """Combined evidence per Mien emotion, each in [0, 1] (neutral excluded)."""
        combined = dict.fromkeys(EMOTIONS, 0.0)
        for label, score in self.nade_scores(text).items():
            emotion, factor = _PLUTCHIK_TO_MIEN[label]
            combined[emotion] += factor * score
        for emotion, weight in _lexicon(text).items():
            combined[emotion] += weight
        for emotion, weight, pattern in _PHRASES:
            if pattern.search(text):
                combined[emotion] += weight
        combined.pop("neutral")
        return {e: round(min(1.0, v), 4) for e, v in combined.items()}

    def infer(self, text: str) -> Inference | None:
        """The sentence's dominant emotion, or None when the text carries no clear one."""
        text = text.strip()
        # Sentences and short lines repeat (greetings, scripted answers); long messages rarely do.
        return self._remembered(text) if len(text) <= 300 else self._infer(text)

    def _infer(self, text: str) -> Inference | None:
        if not _english_like(text):
            return None
        scores = self.scores(text)
        label = max(scores, key=scores.__getitem__)
        score = scores[label]
        if score < MIN_SCORE:
            return None
        if score < STRONG:
            compound = self.compound(text)
            pleasure = float(PAD[EMOTION_INDEX[label], 0])
            if pleasure * compound < -0.25:
                return None  # emotion and valence disagree: stay calm
        intensity = min(1.0, 0.3 + 0.7 * score)
        return Inference(label, round(intensity, 3), scores)

    def profile(self, text: str) -> dict[str, Any]:
        """`mien emotion`'s view of a line: weights per emotion, valence and arousal in [-1, 1]."""
        text = text.strip()
        if not _english_like(text):
            return {"text": text, "emotions": {"neutral": 1.0}, "valence": 0.0, "arousal": 0.0}
        scores = self.scores(text)
        top = max(scores.values(), default=0.0)
        weights = {"neutral": round(max(0.0, 1.0 - top), 4), **scores}
        w = np.array([scores[e] for e in EMOTIONS if e != "neutral"])
        pad = np.array([PAD[EMOTION_INDEX[e]] for e in EMOTIONS if e != "neutral"])
        arousal = float(w @ pad[:, 1] / w.sum()) * top if w.sum() > 0 else 0.0
        return {
            "text": text,
            "emotions": weights,
            "valence": round(self.valence(text), 4),
            "arousal": round(max(-1.0, min(1.0, arousal)), 4),
        }


def _lexicon(text: str) -> dict[str, float]:
    """Alias words in the text, skipping ambiguous ones and negated ones ("not happy")."""
    found: dict[str, float] = {}
    words = _WORD.findall(text.lower())
    for i, word in enumerate(words):
        hit = ALIASES.get(word)
        if hit is None or word in _AMBIGUOUS or hit[0] == "neutral":
            continue
        if any(w in _NEGATIONS for w in words[max(0, i - 3) : i]):
            continue
        emotion, factor = hit
        found[emotion] = max(found.get(emotion, 0.0), 0.45 * min(1.0, factor))
    return found


def _english_like(text: str) -> bool:
    """The models are English-only: mostly ASCII letters, and no more function words of another language
    than of English ("Ich bin so wütend auf dich!" is not English; "Great product, fast shipping!" is)."""
    letters = [c for c in text if c.isalpha()]
    if not letters or sum(c.isascii() for c in letters) / len(letters) < 0.9:
        return False
    words = _WORD.findall(text.lower())
    english = sum(w in _ENGLISH for w in words)
    return len(words) < 4 or english > 0 or not any(w in _FOREIGN for w in words)


_ENGLISH = frozenset(
    # Words frequent in English and rare in the languages it shares an alphabet with ("so", "in" are not).
    "the i you he she it we they is are was were be to of and on at for with that this my your "
    "me not what how why do did can i'm it's that's there here have has just".split()
)
_FOREIGN = frozenset(
    # Function words of French, German, Spanish, Italian, Portuguese, Dutch and Indonesian that are not
    # also English words.
    "je tu il nous vous ils est suis sont les des une du au avec pour pas mais toi moi ich du er wir ihr "
    "bin bist ist sind nicht und der das ein eine mit auf dich mich sehr aber el los las una por para con "
    "pero muy soy estoy yo que del lo sono di che della non sei ik jij niet het een zijn maar eu voce "
    "nao uma saya aku kamu yang dan tidak sangat padamu".split()
)

FEELINGS = Feelings()


def evaluate(rows: list[tuple[str, str]], feelings: Feelings = FEELINGS) -> dict[str, Any]:
    """Accuracy and confusion matrix on (sentence, expected) rows; "neutral" means no cue expected."""
    labels = list(EMOTIONS)
    matrix = {e: dict.fromkeys(labels, 0) for e in labels}
    for sentence, expected in rows:
        inferred = feelings.infer(sentence)
        matrix[expected][inferred.emotion if inferred else "neutral"] += 1
    correct = sum(matrix[e][e] for e in labels)
    return {"sentences": len(rows), "accuracy": round(correct / max(1, len(rows)), 4), "confusion": matrix}


def read_labelled(path: str) -> list[tuple[str, str]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                sentence, label = line.rstrip("\n").split("\t")
                rows.append((sentence, label))
    return rows
