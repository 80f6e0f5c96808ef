"""The protocol's models working together (server -> client): which model judges the replies and its verdict
on each (`evaluation`), the prompts a page may edit (`prompts`), and teacher + student (`guidance`).
docs/protocol.md, "evaluation" and "guidance"."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from server.protocol.common import _Message

Mode = Literal["observe", "revise", "pick"]


class Criterion(_Message):
    name: str
    text: str


class EvaluatorInfo(_Message):
    """In `hello`, when replies are judged: by which model, how, and against what."""

    model: str
    mode: Mode
    threshold: float
    candidates: int
    criteria: list[Criterion]


class PromptsInfo(_Message):
    """The session's prompts, where this page may see and edit them (`set_prompts`): in `hello`, and as
    the `prompts` message answering each edit. `generator` is the model that writes the replies."""

    type: Literal["prompts"] = "prompts"
    generator: str
    system: str
    criteria: list[Criterion]
    edited: bool = Field(description="The system prompt is this session's own, not the persona's.")


class EvaluationScore(_Message):
    criterion: str
    score: float = Field(ge=0.0, le=1.0)
    reason: str


class Evaluation(_Message):
    """The evaluator's verdict on a reply. `evaluated` false: it gave none (failed, timed out, answered
    junk), and `reason` says why; the reply was shown regardless. `overall` is the weakest criterion's
    score. `revise`: `revised` when the shown reply is the rewrite of a draft that scored `draft_overall`.
    `pick`: the shown reply is candidate `chosen` (from 0) of `candidates`. `tempered`: the emotions did not
    fit the words, so the face showed them softer."""

    type: Literal["evaluation"] = "evaluation"
    reply_id: int
    evaluated: bool
    mode: Mode
    model: str
    scores: list[EvaluationScore] = Field(default_factory=list)
    overall: float | None = None
    revision: str = ""
    revised: bool = False
    draft_overall: float | None = None
    candidates: int = 1
    chosen: int = 0
    tempered: bool = False
    reason: str | None = None


class TeacherInfo(_Message):
    """In `hello`, with teacher + student: who guides, who writes, how long guidance waits for a batch."""

    teacher: str
    student: str
    window_ms: int


class Guidance(_Message):
    """Which part of a reply came from the teacher (before its text): `start` is the reply's verbatim
    beginning, `plan` what the student was asked to do; `status` `guided`, `unguided` (no guidance:
    `reason`; the student answered alone) or `teacher_only` (the student failed; the teacher wrote it all).
    `batch`: conversations in the teacher call it came from."""

    type: Literal["guidance"] = "guidance"
    reply_id: int
    status: Literal["guided", "unguided", "teacher_only"]
    teacher: str
    student: str
    plan: str = ""
    start: str = ""
    batch: int = 0
    reason: str | None = None
