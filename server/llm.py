"""The LLM gateway: the only module that imports litellm.

litellm takes ~5 s to import, so it is imported lazily on the first reply (`warm_up` can do it in a
thread after start-up). `LITELLM_LOCAL_MODEL_COST_MAP` keeps it from fetching its cost map: Mien never
touches the network unless the configured model is remote.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

from server.settings import Settings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class ProviderError(Exception):
    """The model could not be reached or broke off; `message` is safe to show a user."""


_litellm: Any = None


def _load() -> Any:
    global _litellm
    if _litellm is None:
        import litellm

        from server.local_model import register

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        register()
        _litellm = litellm
    return _litellm


async def warm_up() -> None:
    """Import litellm off the event loop so the first reply doesn't stall frames."""
    await asyncio.to_thread(_load)


async def stream_reply(messages: list[dict[str, str]], settings: Settings) -> AsyncIterator[str]:
    """Yield the reply's text chunks. Cancelling the consumer closes the upstream call."""
    # Importing litellm takes seconds: never on the event loop, or every session's frames would stall.
    litellm = _litellm if _litellm is not None else await asyncio.to_thread(_load)
    kwargs: dict[str, Any] = {
        "model": settings.litellm_model,
        "messages": messages,
        "stream": True,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "timeout": settings.timeout,
        "num_retries": 0,
    }
    if settings.api_base:
        kwargs["api_base"] = settings.api_base
    if settings.api_key:
        kwargs["api_key"] = settings.api_key
    elif settings.api_base:
        kwargs["api_key"] = "not-needed"  # OpenAI-compatible local servers ignore it; the client requires one
    try:
        response = await litellm.acompletion(**kwargs)
    except Exception as e:
        raise ProviderError(_describe(e)) from e
    try:
        async for chunk in response:
            choices = getattr(chunk, "choices", None) or []
            text = choices[0].delta.content if choices else None
            if text:
                yield text
    except Exception as e:
        raise ProviderError(_describe(e)) from e
    finally:
        with suppress(Exception):
            await response.aclose()


def _describe(e: Exception) -> str:
    status = getattr(e, "status_code", None)
    kind = type(e).__name__
    text = str(e).strip().splitlines()[0] if str(e).strip() else kind
    if len(text) > 300:
        text = text[:300] + "…"
    return f"model provider failed ({kind}{f', HTTP {status}' if status else ''}): {text}"
