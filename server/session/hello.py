"""The server's first message: everything a client needs (names, ranges, formats), so it hard-codes none."""

from __future__ import annotations

from animation.arkit import ARKIT_52, HEAD_CHANNELS
from animation.controls import CONTROLS, GAIN
from animation.emotions import EMOTIONS, PAD
from animation.gestures import GESTURES
from server import __version__
from server.limits import EmbedKey
from server.personas import Persona
from server.protocol import (
    FRAME_FORMAT,
    MAX_MESSAGE_BYTES,
    MAX_TEXT_CHARS,
    PROTOCOL_VERSION,
    AudioInfo,
    ControlInfo,
    EmotionInfo,
    Hello,
    Limits,
    SpeechInputInfo,
)
from server.protocol.frames import MIC_MAX_SAMPLES
from server.session.services import Services
from server.voice.encode import OPUS_RATE

EMOTION_INFO = [
    EmotionInfo(name=e, pleasure=float(p[0]), arousal=float(p[1]), dominance=float(p[2]))
    for e, p in zip(EMOTIONS, PAD.tolist(), strict=True)
]


def hello(
    services: Services,
    session_id: str,
    persona: Persona,
    controls: dict[str, float],
    resumed: bool,
    personas: list[str],
    key: EmbedKey | None = None,
) -> Hello:
    """`controls`: the session's starting face (the persona's, then an embed key's): clients show and
    reset to it. `personas`: the ones this session may switch to (an embed key's list)."""
    return Hello(
        protocol=PROTOCOL_VERSION,
        server_version=__version__,
        session_id=session_id,
        model=services.settings.model,
        blendshapes=list(ARKIT_52),
        channels=list(HEAD_CHANNELS),
        emotions=list(EMOTIONS),
        emotion_info=EMOTION_INFO,
        gestures=list(GESTURES),
        controls=[ControlInfo(**c.as_dict(), value=controls.get(c.name)) for c in CONTROLS],
        gain=ControlInfo(**GAIN.as_dict()),
        persona=services.persona_infos[persona.id],
        personas=[services.persona_infos[p] for p in personas],
        resumed=resumed,
        voice=services.voices.available(persona.voice),
        audio=AudioInfo(encoding="ogg-opus", sample_rate=OPUS_RATE),
        fps=services.settings.fps,
        frame_format=FRAME_FORMAT,
        limits=Limits(max_message_bytes=MAX_MESSAGE_BYTES, max_text_chars=MAX_TEXT_CHARS),
        speech_input=speech_input(services, key),
    )


def speech_input(services: Services, key: EmbedKey | None) -> SpeechInputInfo:
    """May this session talk instead of type? The server's answer, then the site's key's."""
    problem = services.speech_problem
    if problem is None and key is not None and not key.allow_speech_input:
        problem = "this site's avatar does not take speech input"
    return SpeechInputInfo(
        available=problem is None,
        reason=problem,
        model=services.settings.asr_model if problem is None else None,
        max_frame_samples=MIC_MAX_SAMPLES,
    )
