"""Client -> server messages (the union `ClientMessage`, discriminated on `type`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from server.protocol.common import Emotion, ExpressivenessFloat, GainFloat, UnitFloat, UserText, _Message


class UserMessage(_Message):
    """A user's chat message; starts a reply (interrupting any reply in progress)."""

    type: Literal["user_message"] = "user_message"
    text: UserText


class Speak(_Message):
    """A scripted line, spoken as written (inline emotion tags allowed); no model is called."""

    type: Literal["speak"] = "speak"
    text: UserText


class Stop(_Message):
    """Interrupt the reply in progress; its partial text is kept and marked interrupted."""

    type: Literal["stop"] = "stop"


class SetEmotion(_Message):
    """Pose an emotion now (the "show" button, `setEmotion`); it holds for `hold` seconds, then decays."""

    type: Literal["set_emotion"] = "set_emotion"
    emotion: Emotion
    intensity: UnitFloat = 1.0
    hold: Annotated[float, Field(ge=0.0, le=30.0, allow_inf_nan=False)] = 3.0


class SetGain(_Message):
    """Per-emotion gain: 0 suppresses, 1 plays the emotion as cued, 2 amplifies."""

    type: Literal["set_gain"] = "set_gain"
    emotion: Emotion
    gain: GainFloat


class SetExpressiveness(_Message):
    """Scales every emotion's output (0 = deadpan, 1 = default, 2 = theatrical)."""

    type: Literal["set_expressiveness"] = "set_expressiveness"
    value: ExpressivenessFloat


class Visibility(_Message):
    """The page's visibility: frames pause while hidden and resume when visible."""

    type: Literal["visibility"] = "visibility"
    hidden: bool


class SetControl(_Message):
    """Set one face control by name (the names, ranges and defaults come in `hello.controls`)."""

    type: Literal["set_control"] = "set_control"
    name: Annotated[str, Field(min_length=1, max_length=64)]
    value: Annotated[float, Field(allow_inf_nan=False)]


class SetMood(_Message):
    """The mood baseline the face rests in and decays back to after each emotion."""

    type: Literal["set_mood"] = "set_mood"
    emotion: Emotion
    intensity: UnitFloat


class ClearHistory(_Message):
    """Forget this conversation (the server's stored turns too)."""

    type: Literal["clear_history"] = "clear_history"


class ExportHistory(_Message):
    """Ask for the conversation as a `history` message."""

    type: Literal["export_history"] = "export_history"


class SetVoice(_Message):
    """Speak replies aloud (audio starts after a user gesture in browsers, so voice starts off)."""

    type: Literal["set_voice"] = "set_voice"
    enabled: bool


class Typing(_Message):
    """The user is composing a message (`active`) or stopped; the server answers with state `listening`."""

    type: Literal["typing"] = "typing"
    active: bool


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
    | Typing,
    Field(discriminator="type"),
]
CLIENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(ClientMessage)
