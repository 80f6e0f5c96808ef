"""Spoken audio for the wire: Ogg/Opus (what browsers' decodeAudioData takes), ~10x smaller than PCM."""

from __future__ import annotations

import io

import numpy as np

OPUS_RATE = 24_000  # Opus takes 8/12/16/24/48 kHz; 24 kHz keeps all of a voice's band
# libsndfile's compression level 0.8 asks ~56 kb/s, where libopus (24 kHz mono) switches to CELT-only:
# measured 2x faster to encode than the hybrid SILK+CELT mode of its default ~32 kb/s, for ~1.5x bytes.
FAST_OPUS = 0.8


def to_ogg_opus(audio: np.ndarray, sample_rate: int, fast: bool = False) -> bytes:
    """Mono float audio -> an Ogg/Opus file. `fast`: about half the encoding time for ~1.5x the bytes."""
    import soundfile as sf

    if sample_rate != OPUS_RATE:
        n = round(len(audio) * OPUS_RATE / sample_rate)
        audio = np.interp(np.arange(n) * (sample_rate / OPUS_RATE), np.arange(len(audio)), audio)
    buf = io.BytesIO()
    level = FAST_OPUS if fast else None
    sf.write(
        buf, np.asarray(audio, np.float32), OPUS_RATE, format="OGG", subtype="OPUS", compression_level=level
    )
    return buf.getvalue()
