"""A model call's failure, in words: the reply model's (`ProviderError`, `describe`, for the log and the
server's own page) and the calls beside it (`side_failure`, safe to show any page)."""

from __future__ import annotations

import logging

log = logging.getLogger("mien.llm")


class ProviderError(Exception):
    """The model could not be reached or broke off; `message` is safe to show a user."""


def side_failure(role: str, e: BaseException, timeout: float) -> str:
    """Why a call beside the reply (`role`: the evaluator, the teacher, …) gave nothing, in words safe to
    show anyone: a provider's own text can name its internals, so it is logged, not shown."""
    if isinstance(e, TimeoutError):
        return f"the {role} did not answer within {timeout:g} s"
    if isinstance(e, ProviderError):
        log.warning("%s: %s", role, e)
        return f"the {role} model failed"
    log.exception("%s failed", role)  # a bug, or a provider's error litellm did not wrap
    return f"the {role} failed ({type(e).__name__})"


def describe(e: Exception, what: str = "model provider") -> str:
    """A provider's failure in one line, safe to show (no traceback, at most ~300 characters)."""
    status = getattr(e, "status_code", None)
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{what} failed ({type(e).__name__}{f', HTTP {status}' if status else ''}): {text}"
