"""Voice activity: Silero VAD v6 (MIT), the ONNX model inside faster-whisper's wheel, run by onnxruntime
(no torch, nothing downloaded).

The model reads 16 kHz audio in 512-sample chunks (32 ms), each with the 64 samples before it as context,
and carries an LSTM state from chunk to chunk: one `Listener` per microphone keeps that state and whatever
part of a chunk has not arrived yet, so audio can come in any frame size. Its graph runs the chunks it is
given as one sequence (its batch axis is time), so sessions cannot share a call: each listener's new
chunks go in one call (~0.24 ms a chunk on this machine's cores; bench.hearing measures it).
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
CHUNK = 512  # samples the model reads at a time (32 ms at 16 kHz)
CONTEXT = 64  # samples of the chunk before, prepended to each
CHUNK_S = CHUNK / SAMPLE_RATE


def model_path() -> Path:
    import faster_whisper

    return Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"


@functools.cache
def _session() -> object:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1  # one chunk is tiny: threads would cost more than they give
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(
        str(model_path()), providers=["CPUExecutionProvider"], sess_options=options
    )


_LOCK = threading.Lock()  # the first load from two threads at once builds one session


def session() -> object:
    with _LOCK:
        return _session()


class Listener:
    """One microphone's voice activity: feed 16 kHz float32 audio, get one speech probability per chunk."""

    def __init__(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)  # the start of a chunk still to come
        self.chunks = 0  # chunks read so far: chunk i covers samples [i*CHUNK, (i+1)*CHUNK)

    def feed(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The chunks [n, CHUNK] completed by `audio` (possibly none) and their speech probabilities [n]."""
        audio = np.concatenate([self._pending, np.asarray(audio, np.float32).ravel()])
        whole = len(audio) // CHUNK * CHUNK
        self._pending = audio[whole:].copy()
        if not whole:
            return np.zeros((0, CHUNK), np.float32), np.zeros(0, np.float32)
        chunks = audio[:whole].reshape(-1, CHUNK)
        before = np.concatenate([self._context[None], chunks[:-1, -CONTEXT:]])
        self._context = chunks[-1, -CONTEXT:].copy()
        model = session()
        probs, self._h, self._c = model.run(  # type: ignore[attr-defined]
            None, {"input": np.concatenate([before, chunks], axis=1), "h": self._h, "c": self._c}
        )
        self.chunks += len(chunks)
        return chunks, np.asarray(probs, np.float32).reshape(-1)
