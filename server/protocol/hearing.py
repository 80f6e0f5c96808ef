"""The protocol's speech input: what the server says about the user's microphone (server -> client); the
client's side is `listen` (client.py) and binary `mic` frames (frames.py). docs/protocol.md, "Speech input".

Times are the microphone stream's own: ms of audio received since the microphone was opened (`listen`),
so they are exact whatever the network did."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from server.protocol.common import _Message


class SpeechInputInfo(_Message):
    """In `hello`: whether this session may talk instead of type, and how to send the audio."""

    available: bool
    reason: str | None = Field(None, description="Why not, when unavailable (no model, the site's key, off).")
    model: str | None = None
    sample_rate: int = 16_000
    frame_kind: int = 3
    max_frame_samples: int = 8_192


class SpeechStart(_Message):
    """The user started speaking (voice activity), `at_ms` into the microphone's stream."""

    type: Literal["speech_start"] = "speech_start"
    turn: int
    at_ms: int


class SpeechEnd(_Message):
    """The user's turn ended: `reason` silence, judged (the end-of-turn model agreed), hold (the longest
    pause), max (too long), mic (the microphone closed) or discarded (too short to be speech: a cough)."""

    type: Literal["speech_end"] = "speech_end"
    turn: int
    at_ms: int
    reason: Literal["silence", "judged", "hold", "max", "mic", "discarded"]


class TranscriptWord(_Message):
    word: str
    start_ms: int
    end_ms: int
    probability: float


class Transcript(_Message):
    """What the user said: partial ones while they speak (each replaces the last), then one final per
    turn. A final transcript with text becomes the user's message (a reply follows); an empty one means
    the turn was not speech (`dropped` says what Whisper heard and why it was not kept)."""

    type: Literal["transcript"] = "transcript"
    turn: int
    text: str
    final: bool
    words: list[TranscriptWord] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)


class BargeIn(_Message):
    """The user talks over the avatar: `duck` (lower the reply's audio now), `resume` (it was not speech
    meant for the avatar: a cough, an echo), `stop` (the reply stops; its reply_end follows)."""

    type: Literal["barge_in"] = "barge_in"
    action: Literal["duck", "resume", "stop"]
    reply_id: int
