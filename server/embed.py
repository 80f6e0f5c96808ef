"""Embed keys: who may open a session from another site, and the limits that protect the site owner's
provider bill. Keys are public (they sit in the host page) and bound to origins; the server checks the
websocket's `Origin` against the key's allowlist.

Keys live in a TOML file (`embed_keys` setting / `MIEN_EMBED_KEYS`):

    [keys.demo]
    origins = ["https://example.com", "http://localhost:3000"]
    messages_per_minute = 10     # per visitor (the client's address), a sliding minute
    concurrent_sessions = 50     # open sessions under this key
    tokens_per_day = 200000      # prompt + reply tokens under this key, per UTC day
    persona = "guide"            # optional default persona for this key

Without a key, only Mien's own pages (same origin) and non-browser clients (no Origin header) connect.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from server.settings import ConfigError, read_toml


def _origin(value: str) -> str:
    """`scheme://host[:port]` exactly as a browser's Origin header has it: anything else (a trailing slash,
    a path, capitals) would never match, and the embed page puts these in its CSP (`frame-ancestors`)."""
    parts = urlsplit(value)
    exact = parts.netloc and value == f"{parts.scheme}://{parts.netloc}"
    if parts.scheme not in ("http", "https") or not exact:
        raise ValueError(f"{value!r} is not an origin like https://shop.example (no path, no trailing slash)")
    if value != value.lower() or "@" in value or any(c in value for c in " ;,'\"\\"):
        raise ValueError(f"{value!r}: an origin is lower-case, with no user, spaces or quotes")
    return value


def _controls(values: dict[str, float]) -> dict[str, float]:
    """Face controls by name (hello's `controls`), each within its range: the site's starting face."""
    from animation.controls import lookup

    return {lookup(name).name: lookup(name).check(value) for name, value in values.items()}


class EmbedKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    origins: Annotated[list[Annotated[str, AfterValidator(_origin)]], Field(min_length=1)]
    messages_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 10
    concurrent_sessions: Annotated[int, Field(ge=1, le=100_000)] = 50
    tokens_per_day: Annotated[int, Field(ge=1)] = 200_000
    persona: str | None = None
    # The face this site starts with (over the persona's), e.g. {expressiveness = 0.8, contrast = 1.2}.
    controls: Annotated[dict[str, float], AfterValidator(_controls)] = Field(default_factory=dict)


def load_keys(path: Path) -> dict[str, EmbedKey]:
    data = read_toml(path)
    keys: dict[str, EmbedKey] = {}
    for key_id, body in (data.get("keys") or {}).items():
        try:
            keys[key_id] = EmbedKey(id=key_id, **body)
        except (ValidationError, TypeError) as e:
            detail = (
                e.errors(include_url=False)[0]
                if isinstance(e, ValidationError)
                else {"loc": (), "msg": str(e)}
            )
            field = ".".join(str(p) for p in detail["loc"]) or "(key)"
            raise ConfigError(f"{path}: keys.{key_id}.{field}: {detail['msg']}") from None
    return keys


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


def wall_clock() -> float:
    return time.time()
