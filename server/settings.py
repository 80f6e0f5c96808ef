"""Configuration: environment variables, overridden by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

LOCAL_MODEL = "mien-local/smollm2-135m-instruct"


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # Any litellm model string; the default is the embedded SmolLM2 run in-process.
    model: str = LOCAL_MODEL
    api_base: str | None = None
    api_key: str | None = None
    temperature: float = 0.7
    max_tokens: int = 192
    timeout: float = 60.0
    fps: float = 30.0
    # Bounded outbound queue per connection (JSON messages; frames are latest-wins on top of it).
    outbound_limit: int = 1024
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            host=env.get("HOST", cls.host),
            port=int(env.get("PORT", cls.port)),
            model=env.get("MIEN_MODEL") or cls.model,
            api_base=env.get("MIEN_API_BASE") or None,
            api_key=env.get("MIEN_API_KEY") or None,
            temperature=_env_float("MIEN_TEMPERATURE", cls.temperature),
            max_tokens=int(_env_float("MIEN_MAX_TOKENS", cls.max_tokens)),
            timeout=_env_float("MIEN_TIMEOUT", cls.timeout),
        )

    def with_overrides(self, **kwargs: object) -> Settings:
        return replace(self, **{k: v for k, v in kwargs.items() if v is not None})

    @property
    def litellm_model(self) -> str:
        """An api_base with a bare model name means an OpenAI-compatible server."""
        if self.api_base and "/" not in self.model:
            return f"openai/{self.model}"
        return self.model

    @property
    def is_local(self) -> bool:
        return self.model == LOCAL_MODEL
