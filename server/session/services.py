"""What every session of one server shares, built once by the app from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from server.face import Animator
from server.limits import Gatekeeper, Moderation
from server.llm import Gateway
from server.personas import Persona
from server.protocol import PersonaInfo
from server.reply import Teacher
from server.seeing import VisionRoute
from server.session.relay import Relay
from server.settings import Settings
from server.store import Store
from server.voice import Voices
from server.voice.cache import SpokenCache


@dataclass
class Services:
    settings: Settings
    animator: Animator
    personas: dict[str, Persona]
    persona_infos: dict[str, PersonaInfo]  # as hello shows them (avatar URLs hashed at start-up)
    store: Store
    gate: Gatekeeper
    gateway: Gateway
    voices: Voices
    moderation: Moderation
    spoken: SpokenCache  # sentences the voices have said, for every session (server/voice/cache.py)
    relay: Relay  # the open sessions, and messages to them from elsewhere (server/session/relay.py)
    speech_problem: str | None = None  # why no session can talk instead of type (None: they can)
    teacher: Teacher | None = None  # teacher + student: every session's guidance requests meet there
    vision: VisionRoute | str = "pictures are off"  # how pictures reach a model, or why they cannot
