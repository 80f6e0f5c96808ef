"""The model gateway: the only module that imports litellm.

litellm takes ~5 s to import, so it is imported lazily on the first reply (`warm_up` can do it in a
thread after start-up). `LITELLM_LOCAL_MODEL_COST_MAP` keeps it from fetching its cost map: Mien never
touches the network unless the configured model is remote.

A Gateway streams one configured model (and its fallbacks), counts tokens the way that model does, and,
when an annotator model is configured, tags plain sentences with emotions. Cloud voices reach litellm's
speech API through `speech`. With `model_rpm`/`model_tpm`, each request to the configured model is counted
against the provider's quota first (quota.py), in Redis when `redis_url` is set.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

from server.llm.failures import ProviderError, describe
from server.llm.opening import started as _started
from server.llm.quota import QuotaReached, quota_for
from server.llm.slots import ModelSlots

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

LOCAL_MODEL = "mien-local/smollm2-135m-instruct"


@dataclass(frozen=True)
class ModelOptions:
    """One model and how to reach it (settings build it: Settings.model_options)."""

    model: str = LOCAL_MODEL
    fallbacks: tuple[str, ...] = ()  # tried in order when the model fails before its reply starts
    api_base: str | None = None
    api_key: str | None = None
    temperature: float = 0.7
    max_tokens: int = 192
    timeout: float = 60.0  # also bounds a silent stream
    retries: int = 1  # extra attempts per model on 429/5xx/connection errors before the reply starts
    model_concurrency: int = 32  # replies using a remote model at once (the embedded one runs one at a time)
    model_queue: int = 16  # replies waiting for a turn beyond those; one more is refused (`busy`)
    # The provider's quota for `model` (0: none), counted before each request (quota.py); over it, `busy`.
    model_rpm: int = 0
    model_tpm: int = 0
    redis_url: str | None = None  # where the quota is counted, shared by every process (else per process)

    @property
    def models(self) -> tuple[str, ...]:
        return (self.model, *(m for m in self.fallbacks if m != self.model))

    @property
    def is_local(self) -> bool:
        return LOCAL_MODEL in self.models

    def litellm_model(self, model: str | None = None) -> str:
        """An api_base with a bare model name means an OpenAI-compatible server."""
        model = model or self.model
        return f"openai/{model}" if self.api_base and "/" not in model else model


_litellm: Any = None


def load_litellm() -> Any:
    """litellm, imported and set up once (~5 s: call it off the event loop)."""
    global _litellm
    if _litellm is None:
        import litellm

        from server.llm.local import register

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        register()
        _litellm = litellm
    return _litellm


def rough_tokens(messages: list[dict[str, str]]) -> int:
    """About four characters a token, plus a little per message: when no tokenizer knows the model."""
    return sum(len(m["content"]) // 4 + 4 for m in messages)


# Worth another attempt (the same model again, then the next fallback): rate limits, server errors,
# connection problems. Bad requests and auth errors are not.
_RETRYABLE = (429, 500, 502, 503, 504)

ANNOTATOR_PROMPT = (
    "Copy the user's text exactly, character for character, inserting emotion tags in square brackets "
    "before the words they colour, like [joy] or [sadness:0.5]. Use only these emotions: {emotions}. "
    "Add no other words. If the text shows no emotion, return it unchanged."
)


class Gateway:
    def __init__(self, options: ModelOptions, annotator: str | None = None) -> None:
        """`annotator`: an optional litellm model that tags plain replies, reached like the model."""
        self.options = options
        self.annotator = annotator
        concurrency = 1 if options.is_local else options.model_concurrency
        self.slots = ModelSlots(concurrency, options.model_queue)  # held by each reply (reply/reply.py)
        # The provider's quota for the model (none for the embedded one), counted before each request.
        rpm, tpm = (0, 0) if options.model == LOCAL_MODEL else (options.model_rpm, options.model_tpm)
        name = f"{options.litellm_model()}@{options.api_base or ''}"
        self.quota = quota_for(name, rpm, tpm, options.redis_url)

    async def aclose(self) -> None:
        """Close the quota's connections to Redis, if any (at shutdown)."""
        if self.quota is not None:
            await self.quota.aclose()

    async def warm_up(self) -> None:
        """Import litellm off the event loop (and load the embedded model) so the first reply is quick."""
        await asyncio.to_thread(load_litellm)
        if self.options.is_local:
            from server.llm.local import register

            await asyncio.to_thread(register().load)

    async def stream(
        self, messages: list[dict[str, str]], response_format: dict[str, Any] | None = None
    ) -> AsyncIterator[str]:
        """Yield the reply's text chunks. Cancelling the consumer closes the upstream call.

        Each model (the model, then its fallbacks) gets `1 + retries` attempts until one starts streaming;
        once text has flowed, a failure ends the reply (ProviderError; the partial text is kept upstream).
        Over its quota, the model is not asked (nor retried) and the next fallback is; with none left that
        answers, QuotaReached when the quota was the only failure.
        """
        options = self.options
        # Importing litellm takes seconds: never on the event loop, or every session's frames would stall.
        litellm = _litellm if _litellm is not None else await asyncio.to_thread(load_litellm)
        failures: list[str] = []
        over: QuotaReached | None = None
        cost: int | None = None
        for model in options.models:
            for attempt in range(1 + options.retries):
                if self.quota is not None and model == options.model:
                    if cost is None:  # the prompt's tokens and the longest reply (0 without model_tpm)
                        cost = await self._cost(messages) if options.model_tpm else 0
                    wait = await self.quota.take(cost)
                    if wait is not None:
                        over = QuotaReached(wait)
                        failures.append(f"{model}: {over}")
                        break  # the next fallback, if any
                try:
                    request = _request(model, messages, options, response_format)
                    response = await _started(litellm.acompletion(**request))
                except Exception as e:
                    failures.append(f"{model}: {describe(e)}")
                    if not _retryable(e):
                        break  # the next fallback, if any
                    if attempt < options.retries:
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
                        raise ProviderError(describe(e)) from e
                    failures.append(f"{model}: {describe(e)}")
                finally:
                    with suppress(Exception):
                        await response.aclose()
        if over is not None and len(failures) == 1:
            raise over
        raise ProviderError("; ".join(failures) or "no model configured")

    async def _cost(self, messages: list[dict[str, str]]) -> int:
        """What a request costs in the provider's tokens per minute: its prompt and `max_tokens`."""
        return await asyncio.to_thread(self.count_tokens, messages) + self.options.max_tokens

    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        model: str,
        max_tokens: int,
        response_format: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> str:
        """One whole answer from `model` beside the reply (the annotator, the evaluator), reached like the
        model: greedy, no fallbacks or retries, outside the reply model's quota. `response_format`: the
        structured output to hold it to (the embedded model turns a JSON schema into a grammar).
        `timeout`: the whole answer's bound (TimeoutError past it); without one, only a silent stream's."""
        options = replace(
            self.options_for(model),
            temperature=0.0,
            max_tokens=max_tokens,
            timeout=timeout or self.options.timeout,
        )
        chunks = Gateway(options).stream(messages, response_format=response_format)

        async def whole() -> str:
            return "".join([chunk async for chunk in chunks])

        return await (asyncio.wait_for(whole(), timeout) if timeout else whole())

    def options_for(self, model: str) -> ModelOptions:
        """How to reach another model beside the reply's: no fallbacks or retries, outside the reply model's
        quota (a Gateway per call would not share one), and `api_base` only for a bare name (a model of the
        same server, like fallbacks): a provider-prefixed one goes to its own provider."""
        base = self.options.api_base if "/" not in model or model == self.options.model else None
        return replace(
            self.options, model=model, fallbacks=(), retries=0, model_rpm=0, model_tpm=0, api_base=base
        )

    async def annotate(self, sentence: str, emotions: list[str]) -> str:
        """The sentence with emotion tags added by the annotator model."""
        assert self.annotator, "no annotator model configured"
        prompt = ANNOTATOR_PROMPT.format(emotions=", ".join(e for e in emotions if e != "neutral"))
        messages = [{"role": "system", "content": prompt}, {"role": "user", "content": sentence}]
        return await self.complete(messages, model=self.annotator, max_tokens=max(32, len(sentence)))

    async def flagged(self, model: str, text: str) -> list[str]:
        """What a moderation model (litellm's moderation API, e.g. `omni-moderation-latest`) flags in the
        text: its categories, or [] when it passes. Reached like the model (api_base, api_key)."""
        litellm = _litellm if _litellm is not None else await asyncio.to_thread(load_litellm)
        kwargs = {"model": model, "input": text, **_endpoint(self.options, use_base=True)}
        response = await asyncio.wait_for(litellm.amoderation(**kwargs), self.options.timeout)
        result = response.results[0]
        if not result.flagged:
            return []
        categories = result.categories
        found = categories if isinstance(categories, dict) else getattr(categories, "__dict__", {})
        return sorted(name for name, on in found.items() if on) or ["flagged"]

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        """Prompt tokens as litellm counts them for the model (its bundled tokenizers; no download).

        Loads litellm if needed, so call it from a worker thread."""
        litellm = load_litellm()
        try:
            return int(litellm.token_counter(model=self.options.litellm_model(), messages=messages))
        except Exception:  # an unknown tokenizer must not break a reply
            return rough_tokens(messages)


def _request(
    model: str, messages: list[dict[str, str]], options: ModelOptions, response_format: dict[str, Any] | None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": options.litellm_model(model),
        "messages": messages,
        "stream": True,
        "temperature": options.temperature,
        "max_tokens": options.max_tokens,
        "timeout": options.timeout,
        "num_retries": 0,  # retries and fallbacks are ours: litellm's would retry mid-stream failures too
    }
    if response_format is not None:
        kwargs["response_format"] = response_format
    # The base URL belongs to the configured model and to bare-name fallbacks, not to other providers.
    return kwargs | _endpoint(options, use_base=model == options.model or "/" not in model)


def _endpoint(options: ModelOptions, *, use_base: bool) -> dict[str, Any]:
    """`api_base` and `api_key` for a request (the base only where `use_base` and one is configured)."""
    if options.api_base and use_base:
        # OpenAI-compatible local servers ignore the key, but the client requires one.
        return {"api_base": options.api_base, "api_key": options.api_key or "not-needed"}
    return {"api_key": options.api_key} if options.api_key else {}


def _retryable(e: Exception) -> bool:
    status = getattr(e, "status_code", None)
    return status is None or status in _RETRYABLE
