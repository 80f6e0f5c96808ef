"""Mien's wire protocol, defined once.

JSON messages are pydantic models discriminated on ``type``; blendshape frames and audio are binary
(layout and codec in server/binary.py).
``python -m server.protocol`` rewrites the committed JSON Schema (``server/protocol.schema.json``); a test
fails when that file is stale. ``docs/protocol.md`` documents every message with an example.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from animation.arkit import ARKIT_52, HEAD_CHANNELS
from server.binary import FRAME_HEADER_BYTES, FRAME_KIND, HEAD_SCALE

PROTOCOL_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("protocol.schema.json")

# Limits a client learns from `hello`; larger inputs get a typed `error`.
MAX_MESSAGE_BYTES = 16_384
MAX_TEXT_CHARS = 4_000

Emotion = Annotated[str, Field(min_length=1, max_length=64, description="An emotion name from `hello`.")]
UnitFloat = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
GainFloat = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]
UserText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- client -> server


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
    value: GainFloat


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


# ---------------------------------------------------------------- server -> client


class FrameFormat(_Message):
    """How to decode binary frames (see `encode_frame`)."""

    header_bytes: int
    kind: int
    blendshape_scale: int
    head_scale: float


class ControlInfo(_Message):
    """A face control the client can offer as a slider (or a switch when step is 1 over 0..1)."""

    name: str
    label: str
    minimum: float
    maximum: float
    default: float
    step: float
    description: str
    value: float | None = Field(
        None, description="The session's starting value (the persona's), if not default."
    )


class EmotionInfo(_Message):
    """An emotion with its pleasure-arousal-dominance coordinates (each -1..1), e.g. for colours."""

    name: str
    pleasure: float
    arousal: float
    dominance: float


class MoodInfo(_Message):
    emotion: str
    intensity: float


class PersonaInfo(_Message):
    """Who the avatar is. `avatar` is a GLB under /models/; `mood` the face's resting mood."""

    id: str
    name: str
    greeting: str
    avatar: str
    mood: MoodInfo


class AudioInfo(_Message):
    """How spoken audio arrives: one binary `audio` message per sentence (see `encode_audio`)."""

    encoding: Literal["ogg-opus"]
    sample_rate: int


class Limits(_Message):
    max_message_bytes: int
    max_text_chars: int


class Hello(_Message):
    """The server's first message: everything a client needs, so it hard-codes no names."""

    type: Literal["hello"] = "hello"
    protocol: int
    server_version: str
    session_id: str
    model: str
    blendshapes: list[str]
    channels: list[str]
    emotions: list[str]
    emotion_info: list[EmotionInfo]
    controls: list[ControlInfo]
    gain: ControlInfo
    persona: PersonaInfo
    personas: list[PersonaInfo]
    resumed: bool
    voice: bool  # whether the server can speak (set_voice turns it on per session)
    audio: AudioInfo
    fps: float
    frame_format: FrameFormat
    limits: Limits


ConversationState = Literal["idle", "listening", "thinking", "speaking"]


class State(_Message):
    """Conversation state: idle, listening (user typing/speaking), thinking (awaiting the model), speaking."""

    type: Literal["state"] = "state"
    state: ConversationState


class ReplyStart(_Message):
    """A reply begins; every following text/emotion message carries its id until `reply_end`."""

    type: Literal["reply_start"] = "reply_start"
    reply_id: int
    source: Literal["model", "script"]


class TextDelta(_Message):
    """Visible reply text (tags removed). `offset` is where `delta` starts, in Unicode code points."""

    type: Literal["text"] = "text"
    reply_id: int
    offset: int
    delta: str


EmotionSource = Literal["tag", "stage", "inferred", "annotator", "empathy", "user"]


class EmotionCue(_Message):
    """An emotion cue placed before the word starting at `offset` (code points of the visible text)."""

    type: Literal["emotion"] = "emotion"
    reply_id: int | None
    emotion: str
    intensity: float
    offset: int
    source: EmotionSource
    confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    tempered_by: str | None = Field(
        None, description="A correction: the words read as this emotion, so the cue's intensity was lowered."
    )


class ReplyEnd(_Message):
    """A reply ends: `complete`, `interrupted` (stop or new message) or `error` (provider failure)."""

    type: Literal["reply_end"] = "reply_end"
    reply_id: int
    status: Literal["complete", "interrupted", "error"]
    text: str


class SpeechWord(_Message):
    offset: int  # the word's start in the reply's visible text (code points)
    t_ms: int
    end_ms: int


class SpeechCue(_Message):
    emotion: str
    intensity: float
    t_ms: int  # the audio time of the word the cue precedes


class SpeechMessage(_Message):
    """A sentence about to be spoken: its audio follows as a binary `audio` message. Times are on the
    frames' clock (`t_ms`), so a client plays audio, mouth and captions on one timeline."""

    type: Literal["speech"] = "speech"
    reply_id: int
    sentence: int
    text_start: int
    text_end: int
    t_ms: int
    duration_ms: int
    words: list[SpeechWord]
    cues: list[SpeechCue]
    audio_bytes: int


class HistoryCue(_Message):
    emotion: str
    intensity: float
    offset: int
    source: EmotionSource


class HistoryTurn(_Message):
    role: Literal["user", "assistant"]
    content: str
    status: Literal["complete", "interrupted", "error"]
    cues: list[HistoryCue] = []


class History(_Message):
    """The conversation so far: sent after `hello` when a session resumes, and on `export_history`."""

    type: Literal["history"] = "history"
    reason: Literal["resume", "export", "clear"]
    turns: list[HistoryTurn]


ErrorCode = Literal[
    "bad_json",
    "unknown_type",
    "invalid_message",
    "out_of_range",
    "unknown_emotion",
    "unknown_control",
    "unknown_persona",
    "voice_unavailable",
    "forbidden_origin",
    "unknown_key",
    "too_many_sessions",
    "rate_limited",
    "too_large",
    "provider_error",
    "internal",
]


class Error(_Message):
    """A typed error. The session stays open; nothing already sent is withdrawn."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    reply_id: int | None = None


ServerMessage = Annotated[
    Hello | State | ReplyStart | TextDelta | EmotionCue | SpeechMessage | ReplyEnd | History | Error,
    Field(discriminator="type"),
]
SERVER_ADAPTER: TypeAdapter[Any] = TypeAdapter(ServerMessage)


_RANGE_ERRORS = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"}
)


class ProtocolError(Exception):
    """Client input the protocol rejects; `code` is the `error` message's code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_client_message(raw: str) -> BaseModel:
    """Raw websocket text -> a typed client message, or ProtocolError with the right code."""
    if len(raw.encode()) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"message exceeds {MAX_MESSAGE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise ProtocolError("bad_json", f"not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("invalid_message", "a message is a JSON object with a string `type`")
    try:
        return CLIENT_ADAPTER.validate_python(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        kinds = {err["type"] for err in errors}
        detail = "; ".join(
            f"{'.'.join(map(str, err['loc'][1:])) or 'message'}: {err['msg']}" for err in errors
        )
        if "union_tag_invalid" in kinds:
            raise ProtocolError("unknown_type", f"unknown message type {data['type']!r}") from None
        if kinds & _RANGE_ERRORS:
            raise ProtocolError("out_of_range", detail) from None
        if any(err["type"] == "string_too_long" and err["loc"][-1] == "text" for err in errors):
            raise ProtocolError("too_large", f"text exceeds {MAX_TEXT_CHARS} characters") from None
        raise ProtocolError("invalid_message", detail) from None


FRAME_FORMAT = FrameFormat(
    header_bytes=FRAME_HEADER_BYTES, kind=FRAME_KIND, blendshape_scale=255, head_scale=HEAD_SCALE
)


# ---------------------------------------------------------------- schema


def json_schema() -> dict[str, Any]:
    """The protocol as one JSON Schema document (client and server message unions)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Mien wire protocol",
        "protocol_version": PROTOCOL_VERSION,
        "blendshapes": list(ARKIT_52),
        "head_channels": list(HEAD_CHANNELS),
        "client_messages": CLIENT_ADAPTER.json_schema(),
        "server_messages": SERVER_ADAPTER.json_schema(),
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}")
