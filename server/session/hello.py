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
    TeacherInfo,
    VisionInfo,
)
from server.protocol.frames import MIC_MAX_SAMPLES
from server.reply import JudgePlan
from server.seeing.images import KINDS
from server.session.prompts import editable, evaluator_info, prompts_info
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
    plan = JudgePlan.of(services.settings, persona)
    return Hello(
        protocol=PROTOCOL_VERSION,
        server_version=__version__,
        session_id=session_id,
        model=services.settings.generator,
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
        evaluator=evaluator_info(plan, key),
        teacher=teacher_info(services),
        vision=vision_info(services),
        prompts=prompts_info(services.settings.generator, persona, persona, plan) if editable(key) else None,
    )


def vision_info(services: Services) -> VisionInfo:
    """May this session show the avatar pictures, and how do they reach a model?"""
    route = services.vision
    if isinstance(route, str):
        return VisionInfo(available=False, reason=route)
    max_bytes = services.settings.max_image_bytes
    return VisionInfo(
        available=True, direct=route.direct, model=route.model, max_bytes=max_bytes, types=list(KINDS)
    )


def teacher_info(services: Services) -> TeacherInfo | None:
    teacher, settings = services.teacher, services.settings
    if teacher is None or (settings.evaluator_model and settings.evaluator_mode != "observe"):
        return None  # an evaluator that holds the reply writes it whole (revise, pick): no teacher then
    student, window_ms = services.settings.generator, round(teacher.plan.window * 1000)
    return TeacherInfo(teacher=teacher.plan.model, student=student, window_ms=window_ms)


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
