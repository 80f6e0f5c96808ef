"""A voice that matches the face: each sentence's emotion as rate, pitch and loudness (and, for a cloud voice
that takes instructions, a short style instruction).

The table is data (`data/prosody.toml`): per emotion at intensity 1, the factors and the sources of their
directions; the magnitudes are Mien's choices. A sentence is spoken with its strongest cue (the first of
equals), its intensity quantised to tenths (so the spoken-sentence cache sees few distinct renditions) and
blended toward neutral: rate and pitch geometrically (factor ** intensity), the gain in dB linearly.
No cue, or an emotion the table lacks: neutral, exactly today's voice.

Each engine applies it with its own controls: Piper through its phoneme length and the resampling that
already gives a persona's pitch (piper.py), so the alignments scale with the audio and lip-sync stays
exact; espeak-ng through its rate, pitch and volume parameters (its own timing events); a cloud voice
through `speed`, or `instructions` for models that take them (cloud.py).
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.events import Cue

STEP = 0.1  # intensity is quantised to this


@dataclass(frozen=True)
class Prosody:
    emotion: str = "neutral"
    intensity: float = 0.0  # 0..1, quantised
    rate: float = 1.0  # x speaking rate
    pitch: float = 1.0  # x F0
    gain_db: float = 0.0
    style: str = ""  # for instruction-taking cloud voices: "Speak <style>."

    @property
    def neutral(self) -> bool:
        return self.rate == 1.0 and self.pitch == 1.0 and self.gain_db == 0.0 and not self.style

    @property
    def tag(self) -> str:
        """What tells renditions apart (the voice cache's key): "" when neutral."""
        return "" if self.neutral else f"{self.emotion}@{self.intensity:g}"

    def instruction(self) -> str:
        """A short style instruction for a cloud voice, "" when neutral."""
        if not self.style or self.intensity <= 0:
            return ""
        degree = "slightly " if self.intensity < 0.4 else "" if self.intensity < 0.75 else "clearly "
        return f"Speak {degree}{self.style}."


NEUTRAL = Prosody()


@dataclass(frozen=True)
class _Row:
    rate: float
    pitch: float
    gain_db: float
    style: str


@functools.cache
def table() -> dict[str, _Row]:
    """emotion -> its factors at intensity 1 (data/prosody.toml), checked."""
    from animation.emotions import EMOTIONS

    data = tomllib.loads((Path(__file__).parent / "data" / "prosody.toml").read_text())
    sources = set(data["sources"]) | {"mien"}
    rows: dict[str, _Row] = {}
    for name, row in data["emotion"].items():
        if name not in EMOTIONS:
            raise ValueError(f"prosody.toml: unknown emotion {name!r}")
        cited = {s.strip() for s in row["directions"].split(",")} - {"the reference"}
        if not cited <= sources or row["magnitudes"] not in sources:
            raise ValueError(f"prosody.toml: {name}: cite sources from [sources] or 'mien'")
        if not (0.7 <= row["rate"] <= 1.4 and 0.8 <= row["pitch"] <= 1.25 and abs(row["gain_db"]) <= 8):
            raise ValueError(f"prosody.toml: {name}: a factor out of range")
        rows[name] = _Row(float(row["rate"]), float(row["pitch"]), float(row["gain_db"]), row["style"])
    if rows.get("neutral") != _Row(1.0, 1.0, 0.0, ""):
        raise ValueError("prosody.toml: neutral must change nothing")
    return rows


def prosody(emotion: str, intensity: float) -> Prosody:
    """The emotion at `intensity` (clamped to 0..1, quantised to STEP); neutral for an unknown one."""
    row = table().get(emotion)
    level = round(min(1.0, max(0.0, float(intensity))) / STEP) * STEP
    if row is None or level <= 0.0 or emotion == "neutral":
        return NEUTRAL
    level = round(level, 3)
    return Prosody(
        emotion,
        level,
        round(row.rate**level, 4),
        round(row.pitch**level, 4),
        round(row.gain_db * level, 3),
        row.style,
    )


def for_cues(cues: Iterable[Cue]) -> Prosody:
    """A sentence's prosody: its strongest cue's (the first of equals), neutral when it has none."""
    strongest: Cue | None = None
    for cue in cues:
        if strongest is None or cue.intensity > strongest.intensity:
            strongest = cue
    return NEUTRAL if strongest is None else prosody(strongest.emotion, strongest.intensity)


def louder(audio: np.ndarray, gain_db: float, ceiling: float = 0.95) -> np.ndarray:
    """`audio` `gain_db` louder or softer. Louder passes a soft limiter: samples above a knee are bent
    toward `ceiling` (tanh), so speech's rare peaks are squeezed while its body (and RMS) gets the gain."""
    if gain_db == 0.0 or not len(audio):
        return audio
    out = audio.astype(np.float64) * 10 ** (gain_db / 20)
    if gain_db > 0:
        knee = 0.6 * ceiling
        over = np.abs(out) > knee
        span = ceiling - knee
        bent = knee + span * np.tanh((np.abs(out[over]) - knee) / span)
        out[over] = np.sign(out[over]) * bent
    return np.clip(out, -1.0, 1.0).astype(np.float32)
