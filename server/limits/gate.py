"""The gatekeeper: admits sessions and counts what they use.

Server-wide: open sessions (`max_connections`) and per visitor (`connections_per_visitor`), and, for sessions
without an embed key, messages per visitor per minute. Under a key: its origins, its open sessions and each
visitor's, its messages per visitor per minute, its tokens per day and each visitor's, and its seconds of
microphone audio per day and each visitor's (audio is metered in seconds, not counted as messages). A
visitor is the client's address, an IPv6 one grouped by its /64 (one host or household, however many
addresses it takes).

The policy is here; the counts live in a Counters (counters.py): this process's, or Redis's shared by every
process (shared.py). When the shared counters can't be reached, new sessions and messages are refused
with `unavailable`, or counted locally if the operator chose that (`fallback`); sessions already open go
on. The wall clock is the gatekeeper's (`clock`), passed in for tests.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from server.limits.counters import Counters, CountersUnavailable, LocalCounters, day
from server.limits.keys import EmbedKey

log = logging.getLogger("mien.limits")

Refusal = Literal[
    "forbidden_origin",
    "unknown_key",
    "key_required",
    "too_many_sessions",
    "too_many_connections",
    "shutting_down",
    "unavailable",
]
Denial = tuple[Literal["rate_limited", "unavailable"], str]  # a message refused: (error code, why)
_FULL: dict[str, tuple[Refusal, str]] = {  # an open-session set that is full: the refusal
    "open": ("too_many_connections", "this server is busy; try again soon"),
    "open:v": ("too_many_connections", "too many open sessions from your address"),
    "open:k": ("too_many_sessions", "this site's avatar is busy; try again soon"),
    "open:kv": ("too_many_sessions", "you have this avatar open too many times; close one first"),
}
UNAVAILABLE = "the server cannot check its limits right now; try again in a moment"


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
    lease: str = ""  # this session in the counters' open sets, and which sets
    names: tuple[str, ...] = ()
    counters: Counters | None = field(default=None, compare=False, repr=False)


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
    def __init__(
        self,
        keys: dict[str, EmbedKey],
        limits: Limits | None = None,
        counters: Counters | None = None,
        fallback: Counters | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`counters`: where counts live (default: this process); `fallback`: where they go while those
        can't be reached (None: refuse with `unavailable`)."""
        self.keys = keys
        self.limits = limits or Limits()
        self.counters: Counters = counters or LocalCounters()
        self.fallback = fallback
        self.clock = clock
        self._leases = map(f"{uuid.uuid4().hex[:12]}:{{}}".format, itertools.count(1))
        self._outage = False  # logged once per outage, not per refused visitor
        self.closing = False  # the server is stopping: admit no one (session/drain.py)

    async def admit(self, key_id: str | None, origin: str | None, own_origin: str, address: str) -> Admission:
        """Check the key, the page's origin and the caps; on success the session counts until `leave`."""
        visitor = visitor_of(address)
        key, refusal, reason = self._key(key_id, origin, own_origin)
        if refusal is not None:
            return Admission(key, visitor, refusal, reason)
        if self.closing:
            return Admission(key, visitor, "shutting_down", "the server is restarting; try again in a moment")
        caps = self._caps(key, visitor)
        lease = next(self._leases)
        counters = self.counters
        try:
            full = await counters.open(lease, [(name, cap) for name, cap, _why in caps])
            self._recovered()
        except CountersUnavailable as e:
            self._lost(e)
            if self.fallback is None:
                return Admission(key, visitor, "unavailable", UNAVAILABLE)
            counters = self.fallback
            full = await counters.open(lease, [(name, cap) for name, cap, _why in caps])
        if full is not None:
            return Admission(key, visitor, *caps[full][2])
        return Admission(key, visitor, lease=lease, names=tuple(c[0] for c in caps), counters=counters)

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

    def _caps(self, key: EmbedKey | None, visitor: str) -> list[tuple[str, int, tuple[Refusal, str]]]:
        """The open-session sets a new session counts in, their caps, and the refusal when one is full."""
        limits = self.limits
        caps = [
            ("open", "open", limits.max_connections),
            ("open:v", f"open:v:{visitor}", limits.connections_per_visitor),
        ]
        if key is not None:
            caps += [
                ("open:k", f"open:k:{key.id}", key.concurrent_sessions),
                ("open:kv", f"open:kv:{key.id}:{visitor}", key.sessions_per_visitor),
            ]
        return [(name, cap, _FULL[kind]) for kind, name, cap in caps]

    def leave(self, admission: Admission) -> None:
        """The session admitted with `admission` ended (call once per successful admission)."""
        if admission.counters is not None:
            admission.counters.close(admission.lease, admission.names)

    async def allow_message(self, admission: Admission) -> Denial | None:
        """None if the visitor may send a message now (it is counted), else why not (it is dropped)."""
        try:
            denial = await self._allow(self.counters, admission)
            self._recovered()
            return denial
        except CountersUnavailable as e:
            self._lost(e)
            if self.fallback is None:
                return "unavailable", UNAVAILABLE
            return await self._allow(self.fallback, admission)

    async def _allow(self, counters: Counters, admission: Admission) -> Denial | None:
        key, visitor, now = admission.key, admission.visitor, self.clock()
        if key is not None:
            site, own = await counters.totals(_spent(key, visitor, now))
            if site >= key.tokens_per_day:
                return "rate_limited", "this site's daily allowance is used up; try again tomorrow"
            if own >= key.visitor_tokens_per_day:
                return "rate_limited", "your daily allowance on this site is used up; try again tomorrow"
        limit = key.messages_per_minute if key is not None else self.limits.messages_per_minute
        wait = await counters.hit(f"msg:{key.id if key else ''}:{visitor}", limit, now)
        if wait is not None:
            return "rate_limited", f"message limit reached ({limit} a minute); try again in {wait:.0f} s"
        return None

    def spend(self, admission: Admission, tokens: int) -> None:
        if admission.key is not None and admission.counters is not None and tokens > 0:
            admission.counters.add(_spent(admission.key, admission.visitor, self.clock()), tokens)

    async def allow_listening(self, admission: Admission) -> Denial | None:
        """None if the session may send more microphone audio (under a key: its seconds a day and each
        visitor's, `listened` so far), else why not. Audio is metered in seconds, never as messages."""
        key = admission.key
        if key is None:
            return None
        names = _heard(key, admission.visitor, self.clock())
        try:
            site, own = await self.counters.totals(names)
            self._recovered()
        except CountersUnavailable as e:
            self._lost(e)
            if self.fallback is None:
                return "unavailable", UNAVAILABLE
            site, own = await self.fallback.totals(names)
        if site >= 1000 * key.listen_seconds_per_day:
            return "rate_limited", "this site's daily speech allowance is used up; you can still type"
        if own >= 1000 * key.visitor_listen_seconds_per_day:
            return "rate_limited", "your daily speech allowance on this site is used up; you can still type"
        return None

    def listened(self, admission: Admission, seconds: float) -> None:
        """The session sent `seconds` of microphone audio: counted against its key's daily seconds."""
        key, counters = admission.key, admission.counters
        if key is not None and counters is not None and seconds > 0:
            counters.add(_heard(key, admission.visitor, self.clock()), round(1000 * seconds))

    async def heard_today(self, key: EmbedKey, visitor: str = "") -> float:
        """Seconds of microphone audio sent under the key today (by one visitor, or "" for all)."""
        site, own = await self.counters.totals(_heard(key, visitor, self.clock()))
        return (own if visitor else site) / 1000

    async def spent_today(self, key: EmbedKey, visitor: str = "") -> int:
        """Tokens spent under the key today (by one visitor, or "" for all)."""
        site, own = await self.counters.totals(_spent(key, visitor, self.clock()))
        return own if visitor else site

    async def open_sessions(self, key: EmbedKey | None = None) -> int:
        """Sessions open under the key now (with no key: on the whole server)."""
        return await self.counters.count("open" if key is None else f"open:k:{key.id}")

    def _lost(self, e: Exception) -> None:
        if not self._outage:
            self._outage = True
            how = "counted in this process" if self.fallback is not None else "refused (unavailable)"
            log.error("the shared limits can't be reached (%s): new sessions and messages are %s", e, how)

    def _recovered(self) -> None:
        if self._outage:
            self._outage = False
            log.warning("the shared limits are back")


def _spent(key: EmbedKey, visitor: str, now: float) -> list[str]:
    """Today's token totals: the key's and the visitor's under it."""
    return [f"tok:{key.id}:{day(now)}", f"tok:{key.id}:{visitor}:{day(now)}"]


def _heard(key: EmbedKey, visitor: str, now: float) -> list[str]:
    """Today's microphone audio totals, in ms: the key's and the visitor's under it."""
    return [f"aud:{key.id}:{day(now)}", f"aud:{key.id}:{visitor}:{day(now)}"]
