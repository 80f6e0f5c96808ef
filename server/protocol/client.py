"""Client -> server messages (the union `ClientMessage`, discriminated on `type`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter

from server.protocol.common import Emotion, ExpressivenessFloat, GainFloat, UnitFloat, UserText, _Message


class _Input(_Message):
    """Strict types: `true` is no number and `"1"` no flag (a mistyped field is `invalid_message`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class UserMessage(_Input):
    """A user's chat message; starts a reply (interrupting any reply in progress)."""

    type: Literal["user_message"] = "user_message"
    text: UserText
    image: Annotated[int, Field(ge=0, le=0xFFFFFFFF)] | None = Field(
        None, description="A picture sent before as a binary `image` message (its id), shown with the text."
    )


class Speak(_Input):
    """A scripted line, spoken as written (inline emotion tags allowed); no model is called."""

    type: Literal["speak"] = "speak"
    text: UserText


class Stop(_Input):
    """Interrupt the reply in progress; its partial text is kept and marked interrupted."""

    type: Literal["stop"] = "stop"


class SetEmotion(_Input):
    """Pose an emotion now (the "show" button, `setEmotion`); it holds for `hold` seconds, then decays."""

    type: Literal["set_emotion"] = "set_emotion"
    emotion: Emotion
    intensity: UnitFloat = 1.0
    hold: Annotated[float, Field(ge=0.0, le=30.0, allow_inf_nan=False)] = 3.0


class SetGain(_Input):
    """Per-emotion gain: 0 suppresses, 1 plays the emotion as cued, 2 amplifies."""

    type: Literal["set_gain"] = "set_gain"
    emotion: Emotion
    gain: GainFloat


class SetExpressiveness(_Input):
    """Scales every emotion's output (0 = deadpan, 1 = default, 2 = theatrical)."""

    type: Literal["set_expressiveness"] = "set_expressiveness"
    value: ExpressivenessFloat


class Visibility(_Input):
    """The page's visibility: frames pause while hidden and resume when visible."""

    type: Literal["visibility"] = "visibility"
    hidden: bool


class SetControl(_Input):
    """Set one face control by name (the names, ranges and defaults come in `hello.controls`)."""

    type: Literal["set_control"] = "set_control"
    name: Annotated[str, Field(min_length=1, max_length=64)]
    value: Annotated[float, Field(allow_inf_nan=False)]


class SetMood(_Input):
    """The mood baseline the face rests in and decays back to after each emotion."""

    type: Literal["set_mood"] = "set_mood"
    emotion: Emotion
    intensity: UnitFloat


class ClearHistory(_Input):
    """Forget this conversation (the server's stored turns too)."""

    type: Literal["clear_history"] = "clear_history"


class ExportHistory(_Input):
    """Ask for the conversation as a `history` message."""

    type: Literal["export_history"] = "export_history"


class SetVoice(_Input):
    """Speak replies aloud (audio starts after a user gesture in browsers, so voice starts off)."""

    type: Literal["set_voice"] = "set_voice"
    enabled: bool


class Typing(_Input):
    """The user is composing a message (`active`) or stopped; the server answers with state `listening`."""

    type: Literal["typing"] = "typing"
    active: bool


class Resume(_Input):
    """Resume a stored conversation: the first message of a socket opened with `?resume=1` (the server
    waits for it before `hello`). Keeps the id out of URLs, and so out of access logs."""

    type: Literal["resume"] = "resume"
    session_id: Annotated[str, Field(min_length=1, max_length=64)]


class Listen(_Input):
    """Open or close the microphone. `push`: push-to-talk, the turn ends when the mic closes; `auto`:
    hands-free, turns end by themselves. Audio (binary `mic` frames) is accepted only while it is open.
    `headphones`: the avatar's voice cannot reach the microphone, so talking over it stops it sooner."""

    type: Literal["listen"] = "listen"
    mode: Literal["off", "push", "auto"]
    headphones: bool = False


class PromptCriterion(_Input):
    name: Annotated[str, Field(min_length=1, max_length=32)]  # [a-z][a-z0-9_]*: checked with the rest
    text: Annotated[str, Field(min_length=1, max_length=300)]


class SetPrompts(_Input):
    """Edit this session's prompts (`hello.prompts` when allowed): the generator's system prompt (`""`: the
    persona's own again) and the evaluator's criteria (`[]`: the persona's). An absent field stays as it is.
    Answered by `prompts`; `not_allowed` under an embed key without `allow_prompt_edit`."""

    type: Literal["set_prompts"] = "set_prompts"
    system: Annotated[str, Field(max_length=4000)] | None = None
    criteria: Annotated[list[PromptCriterion], Field(max_length=8)] | None = None


ClientMessage = Annotated[
    UserMessage
    | Speak
    | Stop
    | SetEmotion
    | SetGain
    | SetExpressiveness
    | SetControl
    | SetMood
    | ClearHistory
    | ExportHistory
    | Visibility
    | SetVoice
    | Typing
    | Listen
    | SetPrompts
    | Resume,
    Field(discriminator="type"),
]
CLIENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(ClientMessage)
