"""Has the user finished? Smart Turn v3.2 (Daily, BSD-2-Clause), an end-of-turn model that hears the
intonation and the words of the last 8 s, judges the pause that silence alone cannot: "You are currently
caller number..." trails off unfinished (0.02), "Thank you." is done (0.96).

Its ONNX file ships inside the `pipecat-ai` wheel (pinned in pyproject, sha256 below, checked by the tests);
only the file is used, not pipecat (importing it would start its logging): Whisper's log-mel features come
from faster-whisper's extractor, which matches pipecat's vendored one to 2e-6 (tested). ~0.1 s of one core
a call, asked once per pause (turns.py), in the hearing's worker thread.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from pathlib import Path

import numpy as np

from server.hearing.turns import Judge
from server.hearing.vad import SAMPLE_RATE

WINDOW_S = 8  # the model's input: the last 8 s, zeros before a shorter turn
SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"


class JudgeUnavailable(RuntimeError):
    """No end-of-turn model: turns end on silence alone."""


def model_path() -> Path:
    spec = importlib.util.find_spec("pipecat")  # found, not imported
    if spec is None or not spec.submodule_search_locations:
        raise JudgeUnavailable("the end-of-turn model needs the pipecat-ai package")
    path = Path(next(iter(spec.submodule_search_locations)))
    path = path / "audio" / "turn" / "smart_turn" / "data" / "smart-turn-v3.2-cpu.onnx"
    if not path.is_file():
        raise JudgeUnavailable(f"no Smart Turn model at {path}")
    return path


@functools.cache
def _load() -> tuple[object, object]:
    import onnxruntime
    from faster_whisper.feature_extractor import FeatureExtractor

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1  # one call per pause: a second core serves the other sessions
    options.log_severity_level = 4
    session = onnxruntime.InferenceSession(
        str(model_path()), providers=["CPUExecutionProvider"], sess_options=options
    )
    return session, FeatureExtractor(feature_size=80, chunk_length=WINDOW_S)


_LOCK = threading.Lock()


def features(audio: np.ndarray) -> np.ndarray:
    """Whisper's log-mel [80, 800] of the last 8 s, the waveform normalized first (Smart Turn's training)."""
    with _LOCK:
        _session, extractor = _load()
    window = WINDOW_S * SAMPLE_RATE
    audio = np.asarray(audio, np.float32)[-window:]
    audio = np.pad(audio, (window - len(audio), 0))
    audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    return extractor(audio, padding=0)[:, : window // 160].astype(np.float32)  # type: ignore[operator]


def default() -> Judge | None:
    """Smart Turn when its model is installed, else None (turns end on silence alone)."""
    try:
        model_path()
    except JudgeUnavailable:
        return None
    return finished


def finished(audio: np.ndarray) -> float:
    """The probability that the turn in `audio` (16 kHz, up to its last voiced chunk) is complete."""
    with _LOCK:
        session, _extractor = _load()
    out = session.run(None, {"input_features": features(audio)[None]})  # type: ignore[attr-defined]
    return float(np.asarray(out[0]).ravel()[0])
