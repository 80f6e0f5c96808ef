"""The in-process gatekeeper: admits sessions and counts what they use.

Server-wide: open sessions (`max_connections`) and per visitor (`connections_per_visitor`), and, for sessions
without an embed key, messages per visitor per minute. Under a key: its origins, its open sessions and each
visitor's, its messages per visitor per minute, its tokens per day and each visitor's. A visitor is the
client's address, an IPv6 one grouped by its /64 (one host or household, however many addresses it takes).
Thread-safe; time is passed in for tests.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Literal

from server.limits.keys import EmbedKey

Refusal = Literal[
    "forbidden_origin",
    "unknown_key",
    "key_required",
    "too_many_sessions",
    "too_many_connections",
    "shutting_down",
]
WINDOW = 60.0  # s: messages are counted over the last minute


class MinuteWindow(deque[float]):
    """When the last minute's events happened: a sliding count for "N a minute" limits."""

    def full(self, limit: int, now: float) -> float | None:
        """Seconds until there is room for one more event when `limit` are in the window, else None."""
        while self and self[0] <= now - WINDOW:
            self.popleft()
        return WINDOW - (now - self[0]) if len(self) >= limit else None


@dataclass(frozen=True)
class Limits:
    """The server's own limits (settings of the same names)."""

    require_key: bool = False
    max_connections: int = 1000
    connections_per_visitor: int = 20
    messages_per_minute: int = 30  # without a key (a key sets its own)


@dataclass(frozen=True)
class Admission:
    key: EmbedKey | None
    visitor: str
    refusal: Refusal | None = None
    reason: str = ""


def visitor_of(address: str) -> str:
    """Who a client is, for limits: its IPv4 address, or its IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an address (a test client, a unix socket): itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Gatekeeper:
    def __init__(self, keys: dict[str, EmbedKey], limits: Limits | None = None) -> None:
        self.keys = keys
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._connections = 0
        self._per_visitor: dict[str, int] = defaultdict(int)
        self._open: dict[str, int] = defaultdict(int)  # by key
        self._open_visitor: dict[tuple[str, str], int] = defaultdict(int)  # by key and visitor
        # Messages by key ("" for none) and visitor; tokens by key, visitor ("" for all) and day.
        self._messages: dict[tuple[str, str], MinuteWindow] = defaultdict(MinuteWindow)
        self._tokens: dict[tuple[str, str, int], int] = defaultdict(int)
        self._swept = 0.0
        self.closing = False  # the server is stopping: admit no one (session/drain.py)

    def admit(self, key_id: str | None, origin: str | None, own_origin: str, address: str) -> Admission:
        """Check the key, the page's origin and the caps; on success the session counts until `leave`."""
        visitor = visitor_of(address)
        key, refusal, reason = self._key(key_id, origin, own_origin)
        if refusal is not None:
            return Admission(key, visitor, refusal, reason)
        if self.closing:
            return Admission(key, visitor, "shutting_down", "the server is restarting; try again in a moment")
        with self._lock:
            busy = self._busy(key, visitor)
            if busy is not None:
                return Admission(key, visitor, *busy)
            self._connections += 1
            self._per_visitor[visitor] += 1
            if key is not None:
                self._open[key.id] += 1
                self._open_visitor[(key.id, visitor)] += 1
        return Admission(key, visitor)

    def _key(
        self, key_id: str | None, origin: str | None, own: str
    ) -> tuple[EmbedKey | None, Refusal | None, str]:
        if key_id is None:
            if self.limits.require_key:
                return None, "key_required", "this server needs an embed key"
            if origin is None or origin == own:
                return None, None, ""
            return None, "forbidden_origin", f"pages on {origin} need an embed key"
        key = self.keys.get(key_id)
        if key is None:
            return None, "unknown_key", f"unknown embed key {key_id[:64]!r}"
        # No Origin header means no browser: a script could forge one anyway, and the key's limits apply.
        if origin is not None and origin not in key.origins and origin != own:
            return key, "forbidden_origin", f"embed key {key_id!r} is not valid on {origin}"
        return key, None, ""

    def _busy(self, key: EmbedKey | None, visitor: str) -> tuple[Refusal, str] | None:
        """Why there is no room for one more session (under the lock), or None."""
        if self._connections >= self.limits.max_connections:
            return "too_many_connections", "this server is busy; try again soon"
        if self._per_visitor[visitor] >= self.limits.connections_per_visitor:
            return "too_many_connections", "too many open sessions from your address"
        if key is not None and self._open[key.id] >= key.concurrent_sessions:
            return "too_many_sessions", "this site's avatar is busy; try again soon"
        if key is not None and self._open_visitor[(key.id, visitor)] >= key.sessions_per_visitor:
            return "too_many_sessions", "you have this avatar open too many times; close one first"
        return None

    def leave(self, admission: Admission) -> None:
        """The session admitted with `admission` ended (call once per successful admission)."""
        key, visitor = admission.key, admission.visitor
        with self._lock:
            self._connections -= 1
            _less(self._per_visitor, visitor)
            if key is not None:
                _less(self._open, key.id)
                _less(self._open_visitor, (key.id, visitor))

    def allow_message(self, admission: Admission, now: float) -> str | None:
        """None if the visitor may send a message now, else why not (the message is dropped)."""
        key, visitor = admission.key, admission.visitor
        limit = key.messages_per_minute if key is not None else self.limits.messages_per_minute
        with self._lock:
            self._sweep(now)
            window = self._messages[(key.id if key else "", visitor)]
            wait = window.full(limit, now)
            if wait is not None:
                return f"message limit reached ({limit} a minute); try again in {wait:.0f} s"
            if key is not None and self._tokens[(key.id, "", _day(now))] >= key.tokens_per_day:
                return "this site's daily allowance is used up; try again tomorrow"
            if key is not None and self._tokens[(key.id, visitor, _day(now))] >= key.visitor_tokens_per_day:
                return "your daily allowance on this site is used up; try again tomorrow"
            window.append(now)
        return None

    def spend(self, admission: Admission, tokens: int, now: float) -> None:
        if admission.key is not None:
            with self._lock:
                self._tokens[(admission.key.id, "", _day(now))] += tokens
                self._tokens[(admission.key.id, admission.visitor, _day(now))] += tokens

    def spent_today(self, key: EmbedKey, now: float, visitor: str = "") -> int:
        """Tokens spent under the key today (by one visitor, or "" for all)."""
        with self._lock:
            return self._tokens.get((key.id, visitor, _day(now)), 0)

    def open_sessions(self, key: EmbedKey | None = None) -> int:
        """Sessions open under the key now (with no key: on the whole server)."""
        with self._lock:
            return self._connections if key is None else self._open[key.id]

    @property
    def visitors(self) -> int:
        """How many (key, visitor) message windows are held."""
        with self._lock:
            return len(self._messages)

    def _sweep(self, now: float) -> None:
        """Forget visitors quiet for a minute and past days' spending (under the lock), at most once a
        minute: the tables stay as large as the last minute's visitors, not every visitor ever seen."""
        if now - self._swept < WINDOW:
            return
        self._swept = now
        for slot in [s for s, w in self._messages.items() if not w or w[-1] <= now - WINDOW]:
            del self._messages[slot]
        for day in [d for d in self._tokens if d[2] < _day(now)]:
            del self._tokens[day]


def _less(counts: dict, key: object) -> None:  # type: ignore[type-arg]
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]  # the table holds open sessions only


def _day(now: float) -> int:
    return int(now // 86400)
