"""Where the gatekeeper's counts live: open sessions (leases in named sets with caps), messages in the last
minute, tokens spent today. `LocalCounters` keeps them in this process (one server, or limits per
process); `RedisCounters` (shared.py) keeps them in Redis, so they hold across processes and machines.

Checks that must be atomic are one call (`open` checks every cap and counts in all of them, or in none;
`hit` checks a window and counts in it). `close` and `add` never wait: a session's end and a reply's cost
are recorded at once here and reach a shared store in the background.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Protocol

WINDOW = 60.0  # s: messages are counted over the last minute


class CountersUnavailable(ConnectionError):
    """The shared counters cannot be reached (Redis down or too slow): nothing was counted."""


class MinuteWindow(deque[float]):
    """When the last minute's events happened: a sliding count for "N a minute" limits."""

    def full(self, limit: int, now: float) -> float | None:
        """Seconds until there is room for one more event when `limit` are in the window, else None."""
        while self and self[0] <= now - WINDOW:
            self.popleft()
        return WINDOW - (now - self[0]) if len(self) >= limit else None


class Counters(Protocol):
    async def open(self, lease: str, caps: Sequence[tuple[str, int]]) -> int | None:
        """Count `lease` in each named set if every set has room under its cap, and return None; else
        count it nowhere and return the index of the first full one."""
        ...

    def close(self, lease: str, names: Sequence[str]) -> None:
        """`lease` (opened in `names`) ended."""
        ...

    async def hit(self, name: str, limit: int, now: float) -> float | None:
        """Count an event in the named minute window if it holds fewer than `limit`; else the seconds
        until it will have room (nothing counted)."""
        ...

    def add(self, names: Sequence[str], amount: int) -> None:
        """Add `amount` to each named total (names carry their day: they end with it)."""
        ...

    async def totals(self, names: Sequence[str]) -> list[int]: ...

    async def count(self, name: str) -> int:
        """Leases open in the named set now."""
        ...


class LocalCounters:
    """In this process. Not thread-safe: the event loop is its one user."""

    def __init__(self) -> None:
        self._sets: dict[str, set[str]] = defaultdict(set)
        self._windows: dict[str, MinuteWindow] = defaultdict(MinuteWindow)
        self._totals: dict[str, int] = defaultdict(int)
        self._swept = 0.0

    async def open(self, lease: str, caps: Sequence[tuple[str, int]]) -> int | None:
        for i, (name, cap) in enumerate(caps):
            if len(self._sets.get(name, ())) >= cap:
                return i
        for name, _cap in caps:
            self._sets[name].add(lease)
        return None

    def close(self, lease: str, names: Sequence[str]) -> None:
        for name in names:
            members = self._sets.get(name)
            if members is not None:
                members.discard(lease)
                if not members:
                    del self._sets[name]  # the table holds open sessions only

    async def hit(self, name: str, limit: int, now: float) -> float | None:
        self._sweep(now)
        window = self._windows[name]
        wait = window.full(limit, now)
        if wait is None:
            window.append(now)
        return wait

    def add(self, names: Sequence[str], amount: int) -> None:
        for name in names:
            self._totals[name] += amount

    async def totals(self, names: Sequence[str]) -> list[int]:
        return [self._totals.get(name, 0) for name in names]

    async def count(self, name: str) -> int:
        return len(self._sets.get(name, ()))

    @property
    def windows(self) -> int:
        """How many message windows are held."""
        return len(self._windows)

    def _sweep(self, now: float) -> None:
        """Forget windows quiet for a minute and past days' totals, at most once a minute: the tables stay
        as large as the last minute's visitors, not every visitor ever seen."""
        if now - self._swept < WINDOW:
            return
        self._swept = now
        for name in [n for n, w in self._windows.items() if not w or w[-1] <= now - WINDOW]:
            del self._windows[name]
        today = f":{day(now)}"
        for name in [n for n in self._totals if not n.endswith(today)]:
            del self._totals[name]


def day(now: float) -> int:
    """The day (UTC) a wall-clock time falls on: daily totals are named with it."""
    return int(now // 86400)
