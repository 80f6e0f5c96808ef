"""The moderation gate for public sites: a user's message is refused with a typed `moderated` error before
it reaches the model when it contains a blocked word or phrase (the server's list, `blocked_words`, and an
embed key's own), or when a moderation model (`moderation_model`, any litellm moderation model, e.g.
OpenAI's `omni-moderation-latest`) flags it. Off unless configured. A moderation model that cannot be
reached refuses the message too (`provider_error`): a gate that opens when it fails is no gate."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Literal

from server.limits.keys import EmbedKey
from server.settings import ConfigError

Flagger = Callable[[str], Awaitable[list[str]]]  # text -> the categories a moderation model flagged


class Refused(Exception):
    """The message may not go to the model; `code` is the protocol's error code."""

    def __init__(self, code: Literal["moderated", "provider_error"], message: str) -> None:
        super().__init__(message)
        self.code = code


def _norm(text: str) -> str:
    # Full-width letters, ligatures and case must not slip past a list of plain words.
    return unicodedata.normalize("NFKC", text).casefold()


def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = sorted({_norm(w).strip() for w in words if w.strip()}, key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in alternatives) + r")(?!\w)")


def read_words(path: Path) -> list[str]:
    """A word list: one word or phrase per line; blank lines and `#` comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the blocked words: {e}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


class Moderation:
    def __init__(self, words: Iterable[str] = (), flag: Flagger | None = None) -> None:
        """`words`: blocked everywhere; `flag`: a moderation model's check, if configured."""
        self._server = _pattern(words)
        self._flag = flag
        self._keys: dict[str, re.Pattern[str] | None] = {}

    async def check(self, text: str, key: EmbedKey | None) -> None:
        """Raises Refused when the message must not reach the model."""
        normalised = _norm(text)
        patterns = [self._server, self._key_pattern(key)]
        if any(p is not None and p.search(normalised) for p in patterns):
            raise Refused("moderated", "this message can't be sent here; please rephrase it")
        if self._flag is None:
            return
        try:
            categories = await self._flag(text)
        except Exception as e:
            raise Refused("provider_error", "the message could not be checked; try again soon") from e
        if categories:
            raise Refused("moderated", "this message can't be sent here; please rephrase it")

    def _key_pattern(self, key: EmbedKey | None) -> re.Pattern[str] | None:
        if key is None or not key.blocked_words:
            return None
        if key.id not in self._keys:
            self._keys[key.id] = _pattern(key.blocked_words)
        return self._keys[key.id]
