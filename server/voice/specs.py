"""Which voice speaks: a short spec string, parsed and checked at start-up, and the loaded voices.

    SPEC   := "default" | "auto" | ENGINE (":" ARG)*      ARG is a positional value or key=value
    default                       (personas) the server's `voice` setting
    piper[:rate=R][:pitch=P]      Piper's CC0 "joe" voice at speaking rate R (0.5-2; Piper's length_scale
                                  = 1/R), pitch and timbre scaled by P (0.7-1.4), so one single-speaker
                                  model gives several voices; espeak-ng (same rate) when Piper can't load
    auto                          plain `piper` (the server's default)
    espeak[:NAME][:rate=R]        espeak-ng; NAME one of its voices with an optional variant, e.g. en-us
                                  (the default), en (British), en-gb-x-rp, en-us+f3 (variants +m1..+m8,
                                  +f1..+f5, +klatt, ...); checked at start-up when espeak-ng is installed
    litellm:MODEL:VOICE[:rate=R][:format=F]
                                  a cloud voice through litellm's speech API (OpenAI-compatible), e.g.
                                  litellm:openai/tts-1:alloy; R is the provider's speed (0.25-4), F the
                                  audio format asked for (wav, flac, mp3 or opus; default wav). The last
                                  positional is the voice, so MODEL may contain ':'.

Parsing needs nothing heavy (settings and personas validate with it); registry.py loads voices.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

FORMATS = ("wav", "flac", "mp3", "opus")  # what soundfile (libsndfile >= 1.1) decodes
_RANGES = {
    ("piper", "rate"): (0.5, 2.0),
    ("piper", "pitch"): (0.7, 1.4),
    ("espeak", "rate"): (0.5, 2.0),
    ("litellm", "rate"): (0.25, 4.0),
}
_ESPEAK_NAME = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*(?:\+[a-z0-9_-]{1,16})?", re.IGNORECASE)


@dataclass(frozen=True)
class VoiceSpec:
    engine: str  # "default", "piper", "espeak" or "litellm" ("auto" is plain "piper")
    name: str | None = None  # espeak-ng voice, or the cloud voice
    model: str | None = None  # the litellm model
    rate: float = 1.0
    pitch: float = 1.0
    format: str = "wav"

    @property
    def cloud(self) -> bool:
        return self.engine == "litellm"

    def __str__(self) -> str:
        """The canonical spec (what `hello` reports; parse(str(spec)) == spec)."""
        parts = [self.engine]
        if self.engine == "litellm":
            parts += [str(self.model), str(self.name)]
        elif self.name is not None:
            parts.append(self.name)
        parts += [f"{k}={v:g}" for k, v in (("rate", self.rate), ("pitch", self.pitch)) if v != 1.0]
        if self.cloud and self.format != "wav":
            parts.append(f"format={self.format}")
        return ":".join(parts)


AUTO = VoiceSpec("piper")  # Piper falls back to espeak-ng by itself
DEFAULT = VoiceSpec("default")


def parse_voice(text: str) -> VoiceSpec:
    """A spec string -> VoiceSpec; ValueError says what is wrong (settings and personas name where)."""
    engine, *args = text.strip().split(":")
    engine = engine.lower()
    positional = [a for a in args if "=" not in a]
    options: dict[str, str] = {}
    for a in args:
        if "=" in a:
            key, value = (s.strip() for s in a.split("=", 1))
            if key in options:
                raise ValueError(f"{key} given twice")
            options[key] = value
    if engine in ("default", "auto"):
        if args:
            raise ValueError(f"{engine!r} takes no arguments")
        return DEFAULT if engine == "default" else AUTO
    if engine not in ("piper", "espeak", "litellm"):
        raise ValueError(
            f"unknown voice engine {engine or text!r}; expected auto, default, piper[:rate=R][:pitch=P], "
            "espeak[:NAME][:rate=R] or litellm:MODEL:VOICE"
        )
    allowed = {"piper": ("rate", "pitch"), "espeak": ("rate",), "litellm": ("rate", "format")}[engine]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"{engine} has no option {unknown[0]!r}; options: {', '.join(allowed)}")
    numbers = {k: _number(engine, k, options[k]) for k in ("rate", "pitch") if k in options}
    if engine == "piper":
        if positional:
            raise ValueError(f"piper has one voice (joe); unexpected {positional[0]!r}")
        return VoiceSpec("piper", **numbers)
    if engine == "espeak":
        if len(positional) > 1:
            raise ValueError(f"espeak takes one voice name, got {':'.join(positional)!r}")
        name = positional[0] if positional else None
        if name is not None and not _ESPEAK_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an espeak-ng voice name like en-us or en-gb+f3")
        return VoiceSpec("espeak", name=name, **numbers)
    fmt = options.get("format", "wav").lower()
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if len(positional) < 2 or not all(p.strip() for p in positional):
        raise ValueError("a cloud voice is litellm:MODEL:VOICE, e.g. litellm:openai/tts-1:alloy")
    model, name = ":".join(positional[:-1]).strip(), positional[-1].strip()
    return VoiceSpec("litellm", name=name, model=model, format=fmt, **numbers)


def check(spec: VoiceSpec) -> None:
    """What start-up can check beyond the grammar, without loading a model or the network: that an
    espeak-ng voice name exists (when espeak-ng is installed). ValueError says why."""
    if spec.engine != "espeak" or not spec.name:
        return
    from server.voice.espeak import EspeakVoice, _library
    from server.voice.speech import VoiceUnavailable

    try:
        _library()
    except VoiceUnavailable:
        return  # not installed here: asking for the voice will say so
    try:
        EspeakVoice(spec.name)
    except VoiceUnavailable as e:
        raise ValueError(str(e)) from None


def _number(engine: str, key: str, raw: str) -> float:
    lo, hi = _RANGES[engine, key]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a number") from None
    if not lo <= value <= hi:  # NaN fails too
        raise ValueError(f"{key}={raw} must be between {lo:g} and {hi:g}")
    return value


def resolve(voice: str | VoiceSpec, default: VoiceSpec = AUTO) -> VoiceSpec:
    """A persona's voice with `default` replaced by the server's voice (itself `auto` by default)."""
    spec = parse_voice(voice) if isinstance(voice, str) else voice
    if spec.engine == "default":
        spec = default
    return AUTO if spec.engine == "default" else spec


def available(spec: VoiceSpec) -> bool:
    """Whether the spec's engine is installed (nothing loaded; a cloud voice is only known when asked)."""
    if spec.engine == "espeak":
        return _installed("espeak")
    if spec.cloud:
        return _installed("litellm")
    return _installed("espeak") or _installed("piper")


@functools.cache
def _installed(engine: str) -> bool:
    """Looked up once per process: find_library runs ldconfig, too slow for every hello."""
    import ctypes.util
    import importlib.util

    if engine == "espeak":
        return ctypes.util.find_library("espeak-ng") is not None
    return importlib.util.find_spec(engine) is not None
