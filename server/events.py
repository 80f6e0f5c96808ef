"""The typed events of Mien's data path, one type per concept, used from end to end:

    model chunks -> reply.tags -> Text, Cue, Gesture -> reply.sentences -> Cue, Gesture (inferred), Sentence
    -> the session's output: Text, Cue and Gesture to the wire, Cue and Gesture to the face (at once
       without a voice), Sentence (carrying its cues and gestures) to the voice, which puts them on the
       face at their words' audio times

A reply announces itself with ReplyStarted and ends with ReplyEnded (ReplyFailed before it when it failed).
A conversation's record is a list of Turn, each keeping its reply's cues and gestures (a resumed chat shows
them again).
Offsets count Unicode code points of the reply's visible text (tags removed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

# The wire (server/protocol/) uses these same types.
CueSource = Literal["tag", "stage", "inferred", "annotator", "empathy", "user"]
ReplySource = Literal["model", "script"]
Role = Literal["user", "assistant"]
Status = Literal["complete", "interrupted", "error"]


@dataclass(frozen=True)
class Text:
    """Visible reply text starting at `offset`."""

    delta: str
    offset: int


@dataclass(frozen=True)
class Cue:
    """An emotion cue before the word at `offset`. `tempered_by` marks a correction: the words read as that
    emotion, so the tag's intensity was lowered. `hold`: seconds before decay (None: the face's default)."""

    emotion: str
    intensity: float
    offset: int = 0
    source: CueSource = "tag"
    confidence: float = 1.0
    tempered_by: str | None = None
    hold: float | None = None

    def stored(self) -> dict[str, Any]:
        """What a conversation keeps of the cue (and what old stores hold: Cue(**stored) reads both)."""
        return {
            "emotion": self.emotion,
            "intensity": self.intensity,
            "offset": self.offset,
            "source": self.source,
        }


GestureSource = Literal["tag", "stage", "inferred"]
BeatSource = Literal["beat"]  # the voice's own beat on a stressed word (server/voice/beats.py)
ListenerSource = Literal["listening"]  # the face's nod at the user's pause (server/session/microphone.py)


@dataclass(frozen=True)
class Gesture:
    """A gesture ([nod], *shakes head*) before the word at `offset`: one of animation.gestures.GESTURES,
    its size scaled by `intensity` (0..1). `inferred`: a nod, shake or tilt the words of a sentence the
    model gave no gesture call for (server.reply.head_moves); `beat`: the voice's beat on a stressed word,
    never a reply's event."""

    gesture: str
    offset: int = 0
    intensity: float = 1.0
    source: GestureSource | BeatSource | ListenerSource = "tag"

    def stored(self) -> dict[str, Any]:
        """What a conversation keeps of the gesture (Gesture(**stored) reads it back)."""
        return {
            "gesture": self.gesture,
            "intensity": self.intensity,
            "offset": self.offset,
            "source": self.source,
        }


@dataclass(frozen=True)
class Sentence:
    """A finished sentence of the visible text, with every cue that colours it and every gesture made on
    its words (after inference; a gesture after the reply's last word is its last sentence's)."""

    start: int
    text: str
    cues: tuple[Cue, ...] = ()
    gestures: tuple[Gesture, ...] = ()
    code: tuple[tuple[int, int], ...] = ()  # spans (start, end offsets) of code in it: no beat falls there

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class ReplyStarted:
    source: ReplySource


@dataclass(frozen=True)
class ReplyFailed:
    """Why the reply failed: `code` an error code of the protocol, `detail` a sentence for the user."""

    code: Literal["provider_error", "busy", "internal"]
    detail: str


@dataclass(frozen=True)
class ReplyEnded:
    status: Status
    text: str
    tokens: int = 0  # what the reply cost: its prompt's tokens and the reply's


@dataclass(frozen=True)
class Score:
    """One criterion's judgement by the evaluator: 0 (fails) to 1 (fully met), with its reason."""

    criterion: str
    score: float
    reason: str


EvaluationMode = Literal["observe", "revise", "pick"]


@dataclass(frozen=True)
class Evaluated:
    """The evaluator's verdict on the reply shown (server/reply/judge.py), or why there is none (`reason`).
    `revised`: the shown reply is the generator's rewrite of a draft that scored `draft_overall`; `chosen`
    of `candidates` (pick); `tempered`: the emotions did not fit the words, so the face showed them softer."""

    mode: EvaluationMode
    model: str
    scores: tuple[Score, ...] = ()
    revision: str = ""
    revised: bool = False
    draft_overall: float | None = None
    candidates: int = 1
    chosen: int = 0
    tempered: bool = False
    reason: str | None = None
    tokens: int = 0  # what judging (and rewriting) cost, counted like the reply's own

    @property
    def overall(self) -> float | None:
        """The weakest criterion: a reply is as good as its worst failing."""
        return min((s.score for s in self.scores), default=None)


@dataclass(frozen=True)
class Guided:
    """Who wrote the reply (teacher + student, server/reply/teacher.py): `guided`, the student continued the
    teacher's `start` following its `plan`; `unguided`, no guidance came (`reason`) and the student answered
    alone; `teacher_only`, the student could not answer and the teacher wrote it all."""

    status: Literal["guided", "unguided", "teacher_only"]
    teacher: str
    student: str
    plan: str = ""
    start: str = ""
    batch: int = 0  # conversations in the teacher call the guidance came from
    reason: str | None = None
    tokens: int = 0  # this reply's share of the teacher call


@dataclass(frozen=True)
class Seen:
    """The picture the user showed, as the describing model (`vision_model`) put it in words for the chat
    model; or, with `reason`, why it could not be (the reply answers the words alone)."""

    model: str
    description: str = ""
    reason: str | None = None


ReplyEvent = (
    ReplyStarted | Text | Cue | Gesture | Sentence | ReplyFailed | ReplyEnded | Evaluated | Guided | Seen
)


class Sink(Protocol):
    """Where a reply's events go (the session's output for that reply)."""

    async def emit(self, event: ReplyEvent) -> None: ...

    async def settle(self) -> None:
        """Wait until everything emitted so far is delivered (a voice has sounded every sentence)."""
        ...

    def heard(self, text: str) -> str:
        """What of the reply's visible `text` the user has been given by now: all of it without a voice;
        with one, up to the first word not yet sounding (a reply cut while speaking keeps only that)."""
        ...


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, as remembered."""

    role: Role
    content: str
    status: Status = "complete"
    cues: tuple[Cue, ...] = ()
    scripted: bool = False  # a line the client had the avatar say (`speak`), not the model's own words
    gestures: tuple[Gesture, ...] = ()
