"""Configuration, in layers: defaults < TOML file < environment < CLI flags.

The TOML file is `$MIEN_CONFIG`, else `./mien.toml` when present. Keys mirror the fields below, e.g.

    model = "gpt-4o-mini"
    fallbacks = ["ollama/llama3.2", "mien-local/smollm2-135m-instruct"]
    temperature = 0.6
    max_tokens = 300
    timeout = 30
    retries = 1

An invalid file or value stops start-up with the file, the key and the reason.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from server.llm import LOCAL_MODEL, ModelOptions
from server.voice import CloudEndpoint, check, parse_voice


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names where and why."""


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's contents, or a ConfigError naming the file and what is wrong with it."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return data


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # Any litellm model string; the default is the embedded SmolLM2 run in-process.
    model: str = LOCAL_MODEL
    # Tried in order when the model fails before its reply starts.
    fallbacks: tuple[str, ...] = ()
    api_base: str | None = None
    # An optional litellm model that tags plain replies for models that ignore the tag format.
    emotion_model: str | None = None
    api_key: str | None = None
    temperature: float = 0.7
    max_tokens: int = 192
    timeout: float = 60.0
    retries: int = 1  # extra attempts per model on 429/5xx/connection errors before the reply starts
    fps: float = 30.0
    persona: str = "mien"  # the default persona (models/personas/<id>.toml); clients may pick another
    # Conversations are stored here (SQLite); None keeps them in memory only.
    data_dir: str | None = str(Path.home() / ".local" / "share" / "mien")
    retention_days: float = 30.0  # conversations idle longer are deleted; 0 keeps them forever
    record_dir: str | None = None  # when set, each session's frame track is written here
    embed_keys: str | None = None  # a TOML file of embed keys (server/limits/) for other sites
    # The voice replies are spoken with (a spec, server/voice/specs.py): personas with voice = "default" use
    # it. A cloud voice (litellm:MODEL:VOICE) talks to voice_api_base / voice_api_key, else the LLM's.
    voice: str = "auto"
    voice_api_base: str | None = None
    voice_api_key: str | None = None
    voice_timeout: float = 15.0  # s per sentence before a cloud voice counts as failed
    # Bounded outbound queue per connection (JSON messages; frames are latest-wins on top of it).
    outbound_limit: int = 1024

    @classmethod
    def load(cls, environ: dict[str, str] | None = None) -> Settings:
        """Defaults, then the TOML file, then environment variables."""
        env = os.environ if environ is None else environ
        settings = cls()
        path = env.get("MIEN_CONFIG") or ("mien.toml" if Path("mien.toml").is_file() else None)
        if path:
            settings = settings.with_file(Path(path))
        for name, key in _ENV.items():
            if env.get(name):
                settings = settings.with_values({key: env[name]}, source=f"environment variable {name}")
        return settings

    def with_file(self, path: Path) -> Settings:
        return self.with_values(read_toml(path), source=str(path))

    def with_values(self, values: dict[str, Any], source: str) -> Settings:
        """Typed, checked overrides; unknown keys and wrong types are errors naming the source."""
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in known:
                raise ConfigError(f"{source}: unknown setting {key!r}; known: {', '.join(sorted(known))}")
            changes[key] = _coerce(key, raw, getattr(self, key), source)
        return replace(self, **changes)

    def with_overrides(self, **kwargs: object) -> Settings:
        return self.with_values({k: v for k, v in kwargs.items() if v is not None}, source="command line")

    def model_options(self) -> ModelOptions:
        """The model, its fallbacks and how to reach them (for the gateway), under the same names here."""
        return ModelOptions(**{f.name: getattr(self, f.name) for f in fields(ModelOptions)})

    def cloud_voice(self) -> CloudEndpoint:
        """Where cloud voices are asked: their own endpoint, else the LLM's."""
        return CloudEndpoint(
            self.voice_api_base or self.api_base, self.voice_api_key or self.api_key, self.voice_timeout
        )


_ENV = {
    "HOST": "host",
    "PORT": "port",
    "MIEN_MODEL": "model",
    "MIEN_FALLBACKS": "fallbacks",
    "MIEN_API_BASE": "api_base",
    "MIEN_API_KEY": "api_key",
    "MIEN_TEMPERATURE": "temperature",
    "MIEN_MAX_TOKENS": "max_tokens",
    "MIEN_TIMEOUT": "timeout",
    "MIEN_RETRIES": "retries",
    "MIEN_PERSONA": "persona",
    "MIEN_EMOTION_MODEL": "emotion_model",
    "MIEN_DATA_DIR": "data_dir",
    "MIEN_RETENTION_DAYS": "retention_days",
    "MIEN_RECORD_DIR": "record_dir",
    "MIEN_EMBED_KEYS": "embed_keys",
    "MIEN_VOICE": "voice",
    "MIEN_VOICE_API_BASE": "voice_api_base",
    "MIEN_VOICE_API_KEY": "voice_api_key",
    "MIEN_VOICE_TIMEOUT": "voice_timeout",
}


_STRINGS = frozenset(
    [
        "api_base",
        "api_key",
        "host",
        "model",
        "persona",
        "data_dir",
        "record_dir",
        "emotion_model",
        "embed_keys",
        "voice",
        "voice_api_base",
        "voice_api_key",
    ]
)
_LIMITS: dict[str, tuple[float, float]] = {
    "port": (0, 65535),
    "temperature": (0.0, 2.0),
    "max_tokens": (1, 32768),
    "timeout": (0.1, 3600.0),
    "retries": (0, 10),
    "fps": (1.0, 120.0),
    "outbound_limit": (16, 1_000_000),
    "retention_days": (0.0, 36500.0),
    "voice_timeout": (0.1, 600.0),
}


def _coerce(key: str, raw: Any, current: Any, source: str) -> Any:
    def fail(reason: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {reason} (got {raw!r})")

    if key == "fallbacks":
        items = [s.strip() for s in raw.split(",")] if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(s, str) and s for s in items):
            raise fail("a list of model names")
        return tuple(items)
    if isinstance(current, bool) or key in _STRINGS:
        if not isinstance(raw, str) or not raw:
            raise fail("a non-empty string")
        if key == "voice":
            try:
                spec = parse_voice(raw)
                check(spec)
            except ValueError as e:
                raise fail(str(e)) from None
            return "auto" if spec.engine == "default" else str(spec)
        return raw
    if isinstance(current, int | float):
        try:
            value = int(raw) if isinstance(current, int) else float(raw)
        except (TypeError, ValueError):
            raise fail("a number") from None
        lo, hi = _LIMITS.get(key, (float("-inf"), float("inf")))
        if not lo <= value <= hi:
            raise fail(f"must be between {lo:g} and {hi:g}")
        return value
    return raw
