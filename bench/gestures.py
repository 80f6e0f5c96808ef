"""`python -m bench.gestures [--json] [--data TSV]`: how well a sentence's words predict its head gesture.

Runs the inference rules of server/reply/head_moves.py (a nod on affirmation, a shake on negation, a tilt on
questions; rules and sources in server/reply/data/head_moves.toml) on hand-labelled sentences
(tests/server/data/gestures_labelled.tsv: sentence, then nod / shake / tilt / none, labelled before any rule
was written) and prints per gesture precision, recall and support, then the confusion (rows: the label,
columns: what the rules gave). Issue 16's target: precision and recall >= 0.7 for each of nod, shake, tilt.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from server.reply.feelings import read_labelled
from server.reply.head_moves import evaluate

DATA = Path(__file__).parents[1] / "tests" / "server" / "data" / "gestures_labelled.tsv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gestures", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--data", default=str(DATA), help="labelled sentences (TSV: sentence, label)")
    args = parser.parse_args(argv)
    result = evaluate(read_labelled(args.data))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['sentences']} sentences, {Path(args.data).name}")
    print(f"{'gesture':<8} {'precision':>9} {'recall':>6} {'support':>7}")
    for gesture, row in result["scores"].items():
        print(f"{gesture:<8} {row['precision']:>9.3f} {row['recall']:>6.3f} {row['support']:>7}")
    labels = list(result["confusion"])
    print("\nconfusion (label -> inferred)")
    print(f"{'':<8}" + "".join(f"{label:>7}" for label in labels))
    for label, row in result["confusion"].items():
        print(f"{label:<8}" + "".join(f"{row[other]:>7}" for other in labels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
