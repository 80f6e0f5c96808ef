"""Personas: who the avatar is. TOML files in `models/personas/` (name, greeting, prompt, mood, allowed
emotions, expressiveness, voice, avatar), validated at start-up: a bad file stops the server with the
file, the field and the reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from animation.emotions import EMOTION_INDEX
from server.settings import ConfigError, read_toml
from server.voice import check, parse_voice

PERSONA_DIR = Path(__file__).resolve().parent.parent / "models" / "personas"
MAX_CRITERIA = 8
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def check_criteria(criteria: dict[str, str] | list[tuple[str, str]]) -> dict[str, str]:
    """Criteria as given by a persona or a user: names are short identifiers, texts one line each."""
    if not 1 <= len(criteria) <= MAX_CRITERIA:
        raise ValueError(f"between 1 and {MAX_CRITERIA} criteria")
    out: dict[str, str] = {}
    for name, text in criteria.items() if isinstance(criteria, dict) else criteria:
        if name in out:
            raise ValueError(f"criterion {name!r} is named twice")
        if not _NAME.fullmatch(name):
            raise ValueError(f"criterion name {name[:40]!r}: lowercase letters, digits and _ (max 32)")
        text = " ".join(str(text).split())
        if not 1 <= len(text) <= 300:
            raise ValueError(f"criterion {name!r}: one line of 1 to 300 characters")
        out[name] = text
    return out


class Mood(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    emotion: str = "neutral"
    intensity: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.0

    @field_validator("emotion")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in EMOTION_INDEX:
            raise ValueError(f"unknown emotion {v!r}")
        return v


class Persona(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: Annotated[str, Field(min_length=1, max_length=40)]
    greeting: Annotated[str, Field(max_length=400)] = ""
    prompt: Annotated[str, Field(min_length=1, max_length=4000)]
    mood: Mood = Mood()
    emotions: Annotated[list[str], Field(min_length=1)] = list(EMOTION_INDEX)
    expressiveness: Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)] = 1.0
    voice: str = "default"  # a voice spec (server/voice/specs.py); "default" is the server's `voice` setting
    avatar: str = "ict_head.glb"
    # What the evaluator judges this persona's replies by (server/reply/judge.py); empty: the defaults.
    criteria: dict[str, str] = Field(default_factory=dict)

    @field_validator("emotions")
    @classmethod
    def _all_known(cls, v: list[str]) -> list[str]:
        unknown = [e for e in v if e not in EMOTION_INDEX]
        if unknown:
            raise ValueError(f"unknown emotions {unknown}; known: {', '.join(EMOTION_INDEX)}")
        return v

    @field_validator("criteria")
    @classmethod
    def _criteria(cls, v: dict[str, str]) -> dict[str, str]:
        return check_criteria(v) if v else v

    @field_validator("voice")
    @classmethod
    def _voice_spec(cls, v: str) -> str:
        spec = parse_voice(v)  # a ValueError names the reason; load_persona adds the file and field
        check(spec)
        return str(spec)

    @model_validator(mode="after")
    def _mood_allowed(self) -> Persona:
        if self.mood.emotion not in self.emotions and self.mood.emotion != "neutral":
            raise ValueError(f"mood emotion {self.mood.emotion!r} is not in this persona's emotions")
        return self

    def allows(self, emotion: str) -> bool:
        return emotion in self.emotions or emotion == "neutral"


def load_persona(path: Path) -> Persona:
    data = read_toml(path)
    try:
        return Persona(id=path.stem, **{k: v.strip() if isinstance(v, str) else v for k, v in data.items()})
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        raise ConfigError(f"{path}: {field}: {err['msg']}") from None


def load_personas(directory: Path = PERSONA_DIR) -> dict[str, Persona]:
    personas = {p.stem: load_persona(p) for p in sorted(directory.glob("*.toml"))}
    if not personas:
        raise ConfigError(f"{directory}: no persona files (*.toml)")
    return personas
