"""The protocol's voice (server -> client): `speech`, the sentence about to be spoken, with its words, cues
and gestures on the frames' clock; its audio follows as a binary `audio` message (frames.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from server.events import BeatSource, GestureSource
from server.protocol.common import _Message


class SpeechWord(_Message):
    offset: int  # the word's start in the reply's visible text (code points)
    t_ms: int
    end_ms: int


class SpeechCue(_Message):
    emotion: str
    intensity: float
    t_ms: int  # the audio time of the word the cue precedes


class SpeechGesture(_Message):
    """A gesture of the sentence (the same as its `gesture` message: `gesture`, `offset`, `source`) and
    when the face makes it: the audio time of the word it precedes, the piece's end after its last word.
    Or the voice's own `beat` (source `beat`, in no `gesture` message) on a stressed word, starting so
    that its apex meets the stressed vowel."""

    gesture: str
    intensity: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    offset: int
    source: GestureSource | BeatSource
    t_ms: int


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
    gestures: list[SpeechGesture] = Field(default_factory=list)
    audio_bytes: int
