"""Cloud voices: litellm's speech API (OpenAI-compatible `/v1/audio/speech`), one request per sentence."""

from __future__ import annotations

from typing import Any

from server.llm.gateway import load_litellm


def speech(model: str, text: str, voice: str, *, api_base: str | None, **options: Any) -> bytes:
    """One request to litellm's speech API (OpenAI-compatible `/v1/audio/speech`): the audio's bytes.
    Blocking: call it from a worker thread. Raises whatever the provider's failure is."""
    litellm = load_litellm()
    if api_base:
        options["api_base"] = api_base
    return bytes(litellm.speech(model=model, input=text, voice=voice, **options).content)
