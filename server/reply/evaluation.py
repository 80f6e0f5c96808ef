"""A second model judges each reply (generator + evaluator, as in EvalLLM): against criteria in plain words,
it gives every criterion a score from 0 to 1 with a short reason, and may ask for a revision. Its answer is
held to a JSON schema (structured output for a remote model, a grammar for the embedded one); anything
else is a junk verdict, which never blocks the reply: the user sees "not evaluated" and why.

    criteria + persona + conversation + reply (its emotion tags shown) -> evaluator -> Verdict
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.events import Score
from server.seeing import text_of

MAX_REASON_CHARS = 200
# The defaults the issue names: the face's emotions fit the words, the persona holds, the user is answered,
# and nothing harmful or unkind is said. The first is the one that tempers the face (EMOTION_FIT).
EMOTION_FIT = "emotion_fit"
DEFAULT_CRITERIA: dict[str, str] = {
    EMOTION_FIT: "The emotion tags in [brackets] fit the words they come before.",
    "in_persona": "The reply stays in the character the system prompt describes.",
    "answers": "The reply answers what the user last said.",
    "safe_kind": "The reply is safe and kind.",
}
SCALE = (0, 0.25, 0.5, 0.75, 1)  # fails, mostly fails, half, mostly meets, fully meets
EVALUATOR_PROMPT = """You judge a chatbot's reply. For each criterion give a score of 0 (fails), 0.25, 0.5, \
0.75 or 1 (fully meets it) and a reason of a few words. If any score is below {threshold}, say in \
`revision`, in one short sentence, how to fix the reply; else leave `revision` empty. Answer with JSON only.

Criteria:
{criteria}"""


class EvaluationError(ValueError):
    """The evaluator's answer could not be used (not JSON, a score missing or out of range)."""


@dataclass(frozen=True)
class Verdict:
    scores: tuple[Score, ...]
    revision: str = ""

    @property
    def overall(self) -> float:
        """The weakest criterion (an unkind answer that is on topic is still unkind)."""
        return min(s.score for s in self.scores)

    def score(self, criterion: str) -> float | None:
        return next((s.score for s in self.scores if s.criterion == criterion), None)


def schema(criteria: Sequence[str]) -> dict[str, Any]:
    """The JSON schema the evaluator's answer must follow: a {score, reason} per criterion, in order."""
    item = {
        "type": "object",
        "properties": {
            # A five-point scale, as an enum: a grammar built from the schema (the embedded model's) keeps
            # to an enum but not to minimum/maximum (SmolLM2 wrote 1.5 in 13 of 30 verdicts without it).
            "score": {"type": "number", "enum": list(SCALE)},
            "reason": {"type": "string", "maxLength": MAX_REASON_CHARS},
        },
        "required": ["score", "reason"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "scores": {
                "type": "object",
                "properties": {name: item for name in criteria},
                "required": list(criteria),
                "additionalProperties": False,
            },
            "revision": {"type": "string", "maxLength": 200},
        },
        "required": ["scores", "revision"],
        "additionalProperties": False,
    }


def response_format(criteria: Sequence[str]) -> dict[str, Any]:
    """OpenAI's structured-output request for that schema (the embedded model turns it into a grammar)."""
    return {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "strict": True, "schema": schema(criteria)},
    }


def tagged(text: str, cues: Sequence[tuple[str, float, int]]) -> str:
    """The reply as the face showed it: each cue (emotion, intensity, code-point offset) as a tag before
    its word, so the evaluator can judge whether the emotions fit the words."""
    points = list(text)
    for emotion, intensity, offset in sorted(cues, key=lambda c: c[2], reverse=True):
        tag = f"[{emotion}]" if intensity >= 0.95 else f"[{emotion}:{intensity:.1f}]"
        points.insert(min(offset, len(points)), tag + " ")
    return "".join(points)


def messages(
    criteria: dict[str, str],
    threshold: float,
    system: str,
    conversation: Sequence[dict[str, str]],
    reply: str,
) -> list[dict[str, str]]:
    """What the evaluator reads: its instructions, then the persona, the last turns and the reply."""
    listed = "\n".join(f"- {name}: {text}" for name, text in criteria.items())
    recent = "\n".join(f"{m['role']}: {text_of(m['content'])}" for m in conversation[-6:])
    case = (
        f"System prompt of the chatbot:\n{system}\n\n"
        f"Conversation so far:\n{recent}\n\nReply to judge:\n{reply}"
    )
    return [
        {"role": "system", "content": EVALUATOR_PROMPT.format(threshold=f"{threshold:g}", criteria=listed)},
        {"role": "user", "content": case},
    ]


def parse(text: str, criteria: Sequence[str]) -> Verdict:
    """The evaluator's answer as a Verdict (EvaluationError when it is not one). Lenient only where a
    reader would be: a code fence around the JSON, a score given as "0.8"."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body, strict=False)  # a raw newline inside a reason is no reason to refuse it
    except json.JSONDecodeError as e:
        raise EvaluationError(f"not JSON ({e.msg} at {e.pos})") from None
    scores = data.get("scores") if isinstance(data, dict) else None
    if not isinstance(scores, dict):
        raise EvaluationError("no `scores` object")
    out = []
    for name in criteria:
        item = scores.get(name)
        if not isinstance(item, dict):
            raise EvaluationError(f"no score for {name!r}")
        try:
            value = float(item.get("score"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise EvaluationError(f"{name!r}: the score is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise EvaluationError(f"{name!r}: score {value:g} is outside 0..1")
        reason = " ".join(str(item.get("reason", "")).split())[:MAX_REASON_CHARS]
        out.append(Score(name, round(value, 3), reason))
    revision = data.get("revision")
    return Verdict(tuple(out), " ".join(revision.split())[:400] if isinstance(revision, str) else "")


def revise_request(verdict: Verdict, threshold: float) -> str:
    """The user turn that asks the generator to rewrite its draft once, with the evaluator's reasons."""
    weak = [f"- {s.criterion} ({s.score:.1f}): {s.reason}" for s in verdict.scores if s.score < threshold]
    advice = f"\nHow to fix it: {verdict.revision}" if verdict.revision else ""
    return (
        "A reviewer found problems with your last reply:\n" + "\n".join(weak) + advice + "\n"
        "Write the reply again, fixing them. Reply with the new reply only, keeping the emotion tags."
    )
