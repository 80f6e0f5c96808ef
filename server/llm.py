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
from dataclasses import replace
from typing import Any

from server.settings import Settings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class ProviderError(Exception):
    """The model could not be reached or broke off; `message` is safe to show a user."""


_litellm: Any = None


def load_litellm() -> Any:
    """litellm, imported and set up once (~5 s: call it off the event loop; the only import of litellm)."""
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
    await asyncio.to_thread(load_litellm)


# Worth another attempt (the same model again, then the next fallback): rate limits, server errors,
# connection problems. Bad requests and auth errors are not.
_RETRYABLE = (429, 500, 502, 503, 504)


async def stream_reply(messages: list[dict[str, str]], settings: Settings) -> AsyncIterator[str]:
    """Yield the reply's text chunks. Cancelling the consumer closes the upstream call.

    Each model in `settings.models` (the model, then its fallbacks) gets `1 + retries` attempts until one
    starts streaming; once text has flowed, a failure ends the reply (the partial text is kept upstream).
    """
    # Importing litellm takes seconds: never on the event loop, or every session's frames would stall.
    litellm = _litellm if _litellm is not None else await asyncio.to_thread(load_litellm)
    failures: list[str] = []
    for model in settings.models:
        for attempt in range(1 + settings.retries):
            try:
                response = await litellm.acompletion(**_request(model, messages, settings))
            except Exception as e:
                failures.append(f"{model}: {_describe(e)}")
                if not _retryable(e):
                    break  # the next fallback, if any
                if attempt < settings.retries:
                    await asyncio.sleep(min(4.0, 0.25 * 2**attempt))  # backoff before retrying
                continue
            started = False
            try:
                async for chunk in response:
                    choices = getattr(chunk, "choices", None) or []
                    text = choices[0].delta.content if choices else None
                    if text:
                        started = True
                        yield text
                return
            except Exception as e:
                if started:
                    raise ProviderError(_describe(e)) from e
                failures.append(f"{model}: {_describe(e)}")
            finally:
                with suppress(Exception):
                    await response.aclose()
    raise ProviderError("; ".join(failures) or "no model configured")


ANNOTATOR_PROMPT = (
    "Copy the user's text exactly, character for character, inserting emotion tags in square brackets "
    "before the words they colour, like [joy] or [sadness:0.5]. Use only these emotions: {emotions}. "
    "Add no other words. If the text shows no emotion, return it unchanged."
)


async def annotate(sentence: str, settings: Settings, emotions: list[str]) -> str:
    """The sentence with emotion tags added by the annotator model (`settings.emotion_model`)."""
    assert settings.emotion_model, "no annotator model configured"
    annotator = replace(
        settings,
        model=settings.emotion_model,
        fallbacks=(),
        temperature=0.0,
        max_tokens=max(32, len(sentence)),
        retries=0,
    )
    prompt = ANNOTATOR_PROMPT.format(emotions=", ".join(e for e in emotions if e != "neutral"))
    messages = [{"role": "system", "content": prompt}, {"role": "user", "content": sentence}]
    return "".join([chunk async for chunk in stream_reply(messages, annotator)])


def count_tokens(messages: list[dict[str, str]], settings: Settings) -> int:
    """Prompt tokens as litellm counts them for the model (its bundled tokenizers; no download).

    Loads litellm if needed, so call it from a worker thread."""
    litellm = load_litellm()
    try:
        return int(litellm.token_counter(model=settings.litellm_model(), messages=messages))
    except Exception:  # an unknown tokenizer must not break a reply: fall back to a rough count
        return sum(len(m["content"]) // 4 + 4 for m in messages)


def _request(model: str, messages: list[dict[str, str]], settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": settings.litellm_model(model),
        "messages": messages,
        "stream": True,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "timeout": settings.timeout,
        "num_retries": 0,  # retries and fallbacks are ours: litellm's would retry mid-stream failures too
    }
    # The base URL belongs to the configured model and to bare-name fallbacks, not to other providers.
    if settings.api_base and (model == settings.model or "/" not in model):
        kwargs["api_base"] = settings.api_base
        # OpenAI-compatible local servers ignore the key, but the client requires one.
        kwargs["api_key"] = settings.api_key or "not-needed"
    elif settings.api_key:
        kwargs["api_key"] = settings.api_key
    return kwargs


def _retryable(e: Exception) -> bool:
    status = getattr(e, "status_code", None)
    return status is None or status in _RETRYABLE


def _describe(e: Exception) -> str:
    status = getattr(e, "status_code", None)
    kind = type(e).__name__
    text = str(e).strip().splitlines()[0] if str(e).strip() else kind
    if len(text) > 300:
        text = text[:300] + "…"
    return f"model provider failed ({kind}{f', HTTP {status}' if status else ''}): {text}"
