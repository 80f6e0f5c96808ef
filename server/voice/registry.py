"""The one place a voice is chosen: a spec (specs.py) in, a loaded Voice out.

Voices load on first use, in whichever worker thread asks first (Piper takes ~0.5 s), once per spec and
cloud endpoint for the whole process, and are shared by every session; Piper's variants share one model.
A spec that is being loaded doesn't hold up the others; a failed load isn't kept (asking again retries).
Piper falls back to espeak-ng when it can't load. For a session, a cloud voice comes wrapped so that a
sentence it fails to speak is spoken offline instead (cloud.Fallback).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from server.voice.specs import AUTO, VoiceSpec, available, resolve
from server.voice.speech import Voice, VoiceUnavailable

log = logging.getLogger("mien.voice")


@dataclass(frozen=True)
class CloudEndpoint:
    """Where cloud voices are asked (settings: voice_api_base/key, else the LLM's) and how long a sentence
    may take."""

    api_base: str | None = None
    api_key: str | None = None
    timeout: float = 15.0


class Voices:
    """A server's voices: `default` is what a persona's voice "default" means (the `voice` setting)."""

    def __init__(self, default: str | VoiceSpec = AUTO, cloud: CloudEndpoint | None = None) -> None:
        self.default = resolve(default)
        self.cloud = cloud or CloudEndpoint()

    def resolve(self, spec: str | VoiceSpec) -> VoiceSpec:
        return resolve(spec, self.default)

    def available(self, spec: str | VoiceSpec) -> bool:
        """Whether the spec's engine is installed (without loading it)."""
        return available(self.resolve(spec))

    def get(self, spec: str | VoiceSpec) -> Voice:
        """The loaded voice (blocking: call it from a thread); VoiceUnavailable names each engine tried."""
        return _LOADED.get(self.resolve(spec), self.cloud)

    def for_session(self, spec: str | VoiceSpec, report: Callable[[str], None]) -> Voice:
        """The voice one session speaks with; a cloud voice falls back to the offline one, and each failure
        is `report`ed (from the synthesis thread) with a message safe to show."""
        from server.voice.cloud import Fallback

        spec = self.resolve(spec)
        voice = self.get(spec)
        return Fallback(voice, lambda: self.get(AUTO), report) if spec.cloud else voice


class _Loaded:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loading: dict[tuple[object, ...], threading.Lock] = {}
        self._voices: dict[tuple[object, ...], Voice] = {}

    def get(self, spec: VoiceSpec, cloud: CloudEndpoint) -> Voice:
        key: tuple[object, ...] = (str(spec), cloud) if spec.cloud else (str(spec),)
        with self._lock:
            if key in self._voices:
                return self._voices[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._voices:
                    return self._voices[key]
            voice = self._load(spec, cloud)
            with self._lock:
                self._voices[key] = voice
            return voice

    def _load(self, spec: VoiceSpec, cloud: CloudEndpoint) -> Voice:
        if spec.cloud:
            from server.voice.cloud import CloudVoice

            return CloudVoice(spec, cloud.api_base, cloud.api_key, cloud.timeout)
        errors: list[str] = []
        if spec.engine == "piper":
            try:
                return self._piper(spec, cloud)
            except (ImportError, OSError, VoiceUnavailable) as e:
                errors.append(f"piper: {e}")
        try:
            from server.voice.espeak import EspeakVoice

            voice = EspeakVoice(spec.name or "en-us", rate=spec.rate)
        except (OSError, VoiceUnavailable) as e:
            errors.append(f"espeak: {e}")
            raise VoiceUnavailable("; ".join(errors)) from None
        if errors:
            log.warning("voice %s: espeak-ng speaks instead (%s)", spec, errors[0])
        return voice

    def _piper(self, spec: VoiceSpec, cloud: CloudEndpoint) -> Voice:
        from server.voice.piper import PiperVoice

        if spec == AUTO:
            return PiperVoice()
        base = self.get(AUTO, cloud)  # the model is loaded once; variants share it
        if not isinstance(base, PiperVoice):  # Piper failed and espeak-ng stood in
            raise VoiceUnavailable("Piper could not be loaded")
        return base.variant(rate=spec.rate, pitch=spec.pitch)


_LOADED = _Loaded()
