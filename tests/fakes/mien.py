"""Settings for a Mien server under test: the scripted model server as its LLM, no retries, a data dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.settings import Settings
from tests.fakes.openai_server import ScriptedOpenAI


def mien_settings(fake_llm: ScriptedOpenAI, data_dir: Path | None, **overrides: Any) -> Settings:
    """Settings talking to `fake_llm` (model "fake-model"), storing conversations in `data_dir` (None: in
    memory); `overrides` set any other field."""
    values: dict[str, Any] = {
        "model": "fake-model",
        "api_base": fake_llm.base_url,
        "timeout": 20.0,
        "retries": 0,
        "data_dir": None if data_dir is None else str(data_dir),
        # A test that ends with a reply still held by the model must not wait out a real drain's grace.
        "shutdown_grace": 1.0,
    }
    return Settings(**{**values, **overrides})
