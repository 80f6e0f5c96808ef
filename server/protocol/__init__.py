"""Mien's wire protocol, defined once.

JSON messages are pydantic models discriminated on ``type`` (client.py, server.py, history.py,
hearing.py); blendshape frames, spoken audio and the microphone's audio are binary (frames.py);
outbound.py is one connection's queue and its back-pressure policy. ``python -m server.protocol``
rewrites the committed JSON Schema (``server/protocol.schema.json``); a test fails when that file is
stale. ``docs/protocol.md`` documents every message with an example.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from animation.arkit import ARKIT_52, HEAD_CHANNELS
from server.protocol.client import (  # noqa: F401  (re-exported: the protocol's names)
    CLIENT_ADAPTER,
    ClearHistory,
    ClientMessage,
    ExportHistory,
    Listen,
    Resume,
    SetControl,
    SetEmotion,
    SetExpressiveness,
    SetGain,
    SetMood,
    SetVoice,
    Speak,
    Stop,
    Typing,
    UserMessage,
    Visibility,
)
from server.protocol.collaboration import (  # noqa: F401  (re-exported: the protocol's names)
    Criterion,
    Evaluation,
    EvaluationScore,
    EvaluatorInfo,
    Guidance,
    PromptsInfo,
    TeacherInfo,
)
from server.protocol.common import (  # noqa: F401  (re-exported: the protocol's names)
    MAX_MESSAGE_BYTES,
    MAX_TEXT_CHARS,
    Emotion,
    GainFloat,
    UnitFloat,
    UserText,
    _Message,
)
from server.protocol.frames import FRAME_HEADER_BYTES, FRAME_KIND, HEAD_SCALE
from server.protocol.hearing import (  # noqa: F401  (re-exported: the protocol's names)
    BargeIn,
    SpeechEnd,
    SpeechInputInfo,
    SpeechStart,
    Transcript,
    TranscriptWord,
)
from server.protocol.history import (  # noqa: F401  (re-exported: the protocol's names)
    History,
    HistoryCue,
    HistoryGesture,
    HistoryTurn,
)
from server.protocol.seeing import (  # noqa: F401  (re-exported: the protocol's names)
    ImageReceived,
    Vision,
    VisionInfo,
)
from server.protocol.server import (  # noqa: F401  (re-exported: the protocol's names)
    SERVER_ADAPTER,
    AudioInfo,
    ControlInfo,
    ConversationState,
    EmotionCue,
    EmotionInfo,
    EmotionSource,
    Error,
    ErrorCode,
    FrameFormat,
    GestureCue,
    Hello,
    Limits,
    MoodInfo,
    PersonaInfo,
    ReplyEnd,
    ReplyStart,
    ServerMessage,
    State,
    TextDelta,
)
from server.protocol.speech import (  # noqa: F401  (re-exported: the protocol's names)
    SpeechCue,
    SpeechGesture,
    SpeechMessage,
    SpeechWord,
)

# 2: speech input (listen, mic frames, speech_start/end, transcript, barge_in); 3: models working together
# (evaluation, set_prompts/prompts, guidance) and pictures (image frames, image, vision), and in hello
# `evaluator`, `prompts`, `teacher` and `vision`
PROTOCOL_VERSION = 3
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "protocol.schema.json"

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
    except RecursionError:  # nesting deep enough to exhaust the parser's stack, under the size cap
        raise ProtocolError("bad_json", "not valid JSON: nested too deeply") from None
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
            raise ProtocolError("unknown_type", f"unknown message type {data['type'][:64]!r}") from None
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
