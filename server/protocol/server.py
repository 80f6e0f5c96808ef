"""Server -> client messages (the union `ServerMessage`, discriminated on `type`)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, create_model

from animation.controls import Control
from server.events import CueSource, GestureSource, ReplySource, Status
from server.protocol.collaboration import Evaluation, EvaluatorInfo, Guidance, PromptsInfo, TeacherInfo
from server.protocol.common import _Message
from server.protocol.hearing import BargeIn, SpeechEnd, SpeechInputInfo, SpeechStart, Transcript
from server.protocol.history import History
from server.protocol.seeing import ImageReceived, Vision, VisionInfo
from server.protocol.speech import SpeechMessage

# ---------------------------------------------------------------- server -> client


class FrameFormat(_Message):
    """How to decode binary frames (see `encode_frame`)."""

    header_bytes: int
    kind: int
    blendshape_scale: int
    head_scale: float


# The engine's control table (animation.controls.Control) on the wire, field for field, plus the session's
# starting value: generated from the table's type so the two cannot drift apart.
_CONTROL_TYPES = typing.get_type_hints(Control)
ControlInfo = create_model(
    "ControlInfo",
    __base__=_Message,
    __doc__="A face control the client can offer as a slider (or a switch when step is 1 over 0..1).",
    __module__=__name__,
    **{f.name: (_CONTROL_TYPES[f.name], ...) for f in dataclasses.fields(Control)},  # type: ignore[call-overload]
    value=(
        float | None,
        Field(None, description="The session's starting value (the persona's), if not default."),
    ),
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
    avatar_url: str = Field(
        description="Where to load the avatar, relative to the server: `models/NAME?v=HASH`, a URL that "
        "names one version of the file, so browsers may cache it for good."
    )
    mood: MoodInfo
    voice: str | None = Field(
        None,
        description="The voice spec this persona speaks with (`piper:rate=1.1`, `espeak:en-us+f3`, "
        "`litellm:openai/tts-1:alloy`); the server's setting when the persona has none.",
    )


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
    gestures: list[str] = Field(
        default_factory=list, description="The gestures a reply may make (`gesture` messages): nod, shake, …"
    )
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
    speech_input: SpeechInputInfo
    evaluator: EvaluatorInfo | None = Field(None, description="The model judging replies, if any.")
    prompts: PromptsInfo | None = Field(None, description="The prompts, where this page may edit them.")
    teacher: TeacherInfo | None = Field(None, description="Teacher + student, when a teacher guides replies.")
    vision: VisionInfo = VisionInfo(available=False, reason="not offered")


ConversationState = Literal["idle", "listening", "thinking", "speaking"]


class State(_Message):
    """Conversation state: idle, listening (user typing/speaking), thinking (awaiting the model), speaking."""

    type: Literal["state"] = "state"
    state: ConversationState


class ReplyStart(_Message):
    """A reply begins; every following text/emotion message carries its id until `reply_end`."""

    type: Literal["reply_start"] = "reply_start"
    reply_id: int
    source: ReplySource


class TextDelta(_Message):
    """Visible reply text (tags removed). `offset` is where `delta` starts, in Unicode code points."""

    type: Literal["text"] = "text"
    reply_id: int
    offset: int
    delta: str


EmotionSource = CueSource


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


class GestureCue(_Message):
    """A gesture (`[nod]`, `*shakes head*`) placed before the word starting at `offset` (code points of the
    visible text); one of `hello.gestures`. The face makes it (at the word's audio time when the voice
    speaks): the frames carry the movement, this message is for the chat (a chip)."""

    type: Literal["gesture"] = "gesture"
    reply_id: int | None
    gesture: str
    intensity: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    offset: int
    source: GestureSource


class ReplyEnd(_Message):
    """A reply ends: `complete`, `interrupted` (stop or new message) or `error` (provider failure)."""

    type: Literal["reply_end"] = "reply_end"
    reply_id: int
    status: Status
    text: str


ErrorCode = Literal[
    "bad_json",
    "unknown_type",
    "invalid_message",
    "out_of_range",
    "unknown_emotion",
    "unknown_control",
    "unknown_persona",
    "voice_unavailable",
    "voice_failed",
    "forbidden_origin",
    "unknown_key",
    "too_many_sessions",
    "too_many_connections",
    "key_required",
    "rate_limited",
    "too_large",
    "provider_error",
    "busy",
    "not_allowed",
    "bad_image",
    "unknown_image",
    "vision_unavailable",
    "moderated",
    "idle_timeout",
    "shutting_down",
    "unavailable",
    "reply_lost",
    "not_saved",
    "moved",
    "mic_off",
    "bad_audio",
    "speech_unavailable",
    "internal",
]


class Error(_Message):
    """A typed error. The session stays open; nothing already sent is withdrawn."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    reply_id: int | None = None


ServerMessage = Annotated[
    Hello
    | State
    | ReplyStart
    | TextDelta
    | EmotionCue
    | GestureCue
    | SpeechMessage
    | ReplyEnd
    | History
    | SpeechStart
    | SpeechEnd
    | Transcript
    | BargeIn
    | Evaluation
    | PromptsInfo
    | Guidance
    | ImageReceived
    | Vision
    | Error,
    Field(discriminator="type"),
]
SERVER_ADAPTER: TypeAdapter[Any] = TypeAdapter(ServerMessage)
