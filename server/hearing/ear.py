"""One microphone's hearing: its audio through the voice-activity model into turns (vad.py, turns.py).

A session feeds it the user's audio as it arrives; a file is fed the same way (`hear_file`), so a
recording and a live microphone give the same turns. Recognition (asr.py) is a separate, slower step the
caller runs in a worker thread on each finished turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from server.hearing import asr, endpoint
from server.hearing.turns import Judge, TurnEnded, TurnEvent, TurnRules, Turns
from server.hearing.vad import SAMPLE_RATE, Listener


class Ear:
    def __init__(self, rules: TurnRules | None = None, judge: Judge | None = None) -> None:
        self.listener = Listener()
        self.turns = Turns(rules, judge)

    def feed(self, audio: np.ndarray) -> list[TurnEvent]:
        """16 kHz mono float32 audio, any length; the turn events it completes."""
        chunks, probs = self.listener.feed(audio)
        return self.turns.feed(chunks, probs)

    def close(self) -> list[TurnEvent]:
        """The microphone closed: a turn in progress ends here."""
        return self.turns.flush()

    def restart(self) -> None:
        """A new stream (the microphone opened again): no state carries over from the last."""
        self.listener = Listener()
        held = self.turns.held
        self.turns = Turns(self.turns.rules, self.turns.judge)
        self.turns.held = held


def read_audio(path: str | Path) -> np.ndarray:
    """Any file soundfile reads (WAV, FLAC, OGG/Opus, MP3), as 16 kHz mono float32."""
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    return resample(mono, rate)


def resample(audio: np.ndarray, rate: int) -> np.ndarray:
    """To 16 kHz, band-limited (PyAV's libswresample, which faster-whisper already brings)."""
    if rate == SAMPLE_RATE:
        return np.ascontiguousarray(audio, np.float32)
    import av

    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(audio, np.float32)[None], format="flt", layout="mono"
    )
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    out = [f.to_ndarray().ravel() for f in resampler.resample(frame)]
    out += [f.to_ndarray().ravel() for f in resampler.resample(None)]  # what the filter still holds
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


@dataclass(frozen=True)
class Heard:
    start: float  # s in the file: where the speech began
    end: float  # where its last voiced chunk ended
    offset: float  # where the transcribed audio (pre-roll included) starts: its word times count from here
    transcript: asr.Transcript


def hear_file(
    path: str | Path,
    model: str = asr.DEFAULT_MODEL,
    rules: TurnRules | None = None,
    judge: Judge | Literal["default"] | None = "default",
    step_s: float = 0.02,
) -> list[Heard]:
    """Every turn in a recording, transcribed; the audio goes in `step_s` pieces, as a microphone's would.
    `judge`: the end-of-turn model (default: Smart Turn when installed), or None for silence alone."""
    audio = read_audio(path)
    ear = Ear(rules, endpoint.default() if judge == "default" else judge)
    step = max(1, round(step_s * SAMPLE_RATE))
    events: list[TurnEvent] = []
    for i in range(0, len(audio), step):
        events += ear.feed(audio[i : i + step])
    events += ear.close()
    return [
        Heard(
            e.speech_start / SAMPLE_RATE,
            e.speech_end / SAMPLE_RATE,
            e.start / SAMPLE_RATE,
            asr.transcribe(e.audio, model),
        )
        for e in events
        if isinstance(e, TurnEnded)
    ]
