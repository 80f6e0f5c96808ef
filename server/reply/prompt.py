"""What shapes a reply beyond the user's words: the persona's prompt, the emotion- and gesture-tag
instructions, notes that make the words match the face asked for (gains, mood lock: the session's
FaceRequests, set by the user, the site's embed key or the persona), and the empathic face shown while the
model thinks."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path

from animation.gestures import GESTURES
from server.events import Cue
from server.face import FaceRequests
from server.personas import Persona
from server.reply.feelings import Inference

_EMPATHY: dict[str, tuple[str, float]] = {
    k: (v[0], float(v[1]))
    for k, v in tomllib.loads((Path(__file__).parent / "data" / "empathy.toml").read_text()).items()
}


def system_prompt(persona_prompt: str, emotions: Sequence[str], notes: Sequence[str] = ()) -> str:
    """The persona's prompt, the tag instructions for its emotions (none left: no tags), and style notes."""
    tags = ", ".join(f"[{e}]" for e in emotions if e != "neutral")
    instructions = (
        "Show your feelings with an emotion tag in square brackets placed before the words it colours, for "
        f"example: [joy] That's wonderful news! or [surprise:0.6] Really? Tags you may use: {tags}."
        if tags
        else "Do not use emotion tags."
    )
    gestures = ", ".join(f"[{g}]" for g in GESTURES)
    body = (
        "You can also move your head and face with a gesture tag before a word, e.g. [nod] Yes, exactly. "
        f"Gesture tags: {gestures}. Use them sparingly."
    )
    return f"{persona_prompt.strip()}\n\n{instructions}\n{body}" + "".join(f"\n{note}" for note in notes)


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


LISTENING_HOLD = 1.5  # s the listening expression holds while the model thinks


def empathic_cue(user: Inference | None, persona: Persona) -> Cue | None:
    """The listening expression for the user's message, if the persona may show it."""
    if user is None or user.emotion not in _EMPATHY:
        return None
    emotion, intensity = _EMPATHY[user.emotion]
    confidence = round(user.scores.get(user.emotion, 0.5), 3)
    cue = Cue(emotion, intensity, 0, "empathy", confidence, hold=LISTENING_HOLD)
    return cue if persona.allows(emotion) else None
