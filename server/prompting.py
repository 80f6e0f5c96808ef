"""What shapes a reply beyond the user's words: the persona's prompt plus notes that make the words match
the face the user asked for (gains, mood lock), and the empathic face shown while the model thinks."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from server.conversation import system_prompt
from server.feelings import Inference
from server.personas import Persona

_EMPATHY: dict[str, tuple[str, float]] = {
    k: (v[0], float(v[1]))
    for k, v in tomllib.loads((Path(__file__).parent / "data" / "empathy.toml").read_text()).items()
}


@dataclass
class FaceRequests:
    """What the user asked of the face in this session (sliders, mood), mirrored for the prompt."""

    gains: dict[str, float] = field(default_factory=dict)
    controls: dict[str, float] = field(default_factory=dict)
    mood: tuple[str, float] | None = None


def prompt_for(persona: Persona, face: FaceRequests) -> str:
    """Two-way modulation: emotions the user silenced leave the tag list, and the notes ask for a tone."""
    mood_emotion = face.mood[0] if face.mood else persona.mood.emotion
    locked = face.controls.get("mood_lock", 0.0) >= 0.5
    emotions = [e for e in persona.emotions if face.gains.get(e, 1.0) > 0.0]
    notes: list[str] = []
    if locked:
        emotions = [mood_emotion] if mood_emotion != "neutral" else []
        tone = "calm, even" if mood_emotion == "neutral" else mood_emotion
        notes.append(f"Keep a steady {tone} tone throughout; do not swing to other emotions.")
    silenced = [e for e in persona.emotions if face.gains.get(e, 1.0) == 0.0 and e != "neutral"]
    if silenced and not locked:
        notes.append(f"Do not express {', '.join(silenced)}.")
    vivid = [e for e, g in face.gains.items() if g >= 1.5 and e in emotions]
    if vivid:
        notes.append(f"Feel free to show {', '.join(vivid)} strongly.")
    expressiveness = face.controls.get("expressiveness", persona.expressiveness)
    if expressiveness < 0.5:
        notes.append("Keep your feelings understated.")
    elif expressiveness > 1.5:
        notes.append("Be emotionally vivid.")
    return system_prompt(persona.prompt, emotions or ["neutral"], notes)


def empathic_cue(user: Inference | None, persona: Persona) -> tuple[str, float] | None:
    """The listening expression for the user's message, if the persona may show it."""
    if user is None or user.emotion not in _EMPATHY:
        return None
    emotion, intensity = _EMPATHY[user.emotion]
    return (emotion, intensity) if persona.allows(emotion) else None
