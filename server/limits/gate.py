"""The in-process gatekeeper: admits sessions under embed keys and counts what they spend (concurrent
sessions, messages per visitor per minute, tokens per day). Thread-safe; time is passed in for tests."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Literal

from server.limits.keys import EmbedKey

Refusal = Literal["forbidden_origin", "unknown_key", "too_many_sessions"]


@dataclass(frozen=True)
class Admission:
    key: EmbedKey | None
    refusal: Refusal | None = None
    reason: str = ""


class Gatekeeper:
    """Admits sessions and counts what they spend. Thread-safe; time is passed in for tests."""

    def __init__(self, keys: dict[str, EmbedKey]) -> None:
        self.keys = keys
        self._lock = threading.Lock()
        self._open: dict[str, int] = defaultdict(int)
        self._messages: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._tokens: dict[tuple[str, int], int] = defaultdict(int)
        self._swept = 0.0

    def admit(self, key_id: str | None, origin: str | None, own_origin: str) -> Admission:
        """Check the key and the page's origin; on success the session counts as open until `leave`."""
        if key_id is None:
            if origin is None or origin == own_origin:
                return Admission(None)
            return Admission(None, "forbidden_origin", f"pages on {origin} need an embed key")
        key = self.keys.get(key_id)
        if key is None:
            return Admission(None, "unknown_key", f"unknown embed key {key_id!r}")
        # No Origin header means no browser: a script could forge one anyway, and the key's limits apply.
        if origin is not None and origin not in key.origins and origin != own_origin:
            return Admission(key, "forbidden_origin", f"embed key {key_id!r} is not valid on {origin}")
        with self._lock:
            if self._open[key.id] >= key.concurrent_sessions:
                return Admission(key, "too_many_sessions", "this site's avatar is busy; try again soon")
            self._open[key.id] += 1
        return Admission(key)

    def leave(self, key: EmbedKey | None) -> None:
        if key is not None:
            with self._lock:
                self._open[key.id] = max(0, self._open[key.id] - 1)

    def allow_message(self, key: EmbedKey | None, visitor: str, now: float) -> str | None:
        """None if the visitor may send a message now, else why not (the message is dropped)."""
        if key is None:
            return None
        with self._lock:
            self._sweep(now)
            window = self._messages[(key.id, visitor)]
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= key.messages_per_minute:
                wait = 60.0 - (now - window[0])
                return (
                    f"message limit reached ({key.messages_per_minute} a minute); try again in {wait:.0f} s"
                )
            if self._tokens[(key.id, _day(now))] >= key.tokens_per_day:
                return "this site's daily allowance is used up; try again tomorrow"
            window.append(now)
        return None

    def open_sessions(self, key: EmbedKey) -> int:
        """Sessions open under the key now."""
        with self._lock:
            return self._open[key.id]

    @property
    def visitors(self) -> int:
        """How many (key, visitor) message windows are held."""
        with self._lock:
            return len(self._messages)

    def _sweep(self, now: float) -> None:
        """Forget visitors quiet for a minute and past days' spending (under the lock), at most once a
        minute: the tables stay as large as the last minute's visitors, not every visitor ever seen."""
        if now - self._swept < 60.0:
            return
        self._swept = now
        for slot in [s for s, w in self._messages.items() if not w or w[-1] <= now - 60.0]:
            del self._messages[slot]
        for slot in [s for s in self._tokens if s[1] < _day(now)]:
            del self._tokens[slot]

    def spend(self, key: EmbedKey | None, tokens: int, now: float) -> None:
        if key is not None:
            with self._lock:
                self._tokens[(key.id, _day(now))] += tokens


def _day(now: float) -> int:
    return int(now // 86400)
