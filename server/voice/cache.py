"""Spoken sentences kept for reuse: the same voice saying the same text gives the same audio, so a line
many sessions speak (a site's greeting, a scripted answer) is synthesised and encoded once.

Keys are (voice name, text), the voice name with the sentence's prosody and its breath sounds when it has
them (a sad and a joyful rendition of a line are different audio, and so is one with a laugh in it); values
are asyncio futures, so a sentence being made is shared by everyone who asks for it meanwhile (single
flight) and a finished one is handed out at once.
A failed synthesis is dropped, never kept. Finished entries are evicted least recently used first once
their sizes pass the budget (`voice_cache_mb`); pending ones cost nothing until they finish. Only offline
voices are kept: a cloud voice's answer may be a fallback's, and a paid request is the provider's to cache.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
Key = tuple[str, str]


class SpokenCache(Generic[T]):
    def __init__(self, max_bytes: int, size: Callable[[T], int]) -> None:
        self.max_bytes = max_bytes
        self._size = size
        self._entries: OrderedDict[Key, asyncio.Future[T]] = OrderedDict()
        self._sizes: dict[Key, int] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(voice: str, text: str, prosody: str = "") -> Key | None:
        """The key for a sentence spoken with `prosody` (Prosody.tag, "" when neutral), or None when this
        voice's sentences are not kept."""
        if voice.startswith("litellm:"):
            return None
        return (f"{voice}|{prosody}" if prosody else voice, text)

    def get(self, key: Key) -> asyncio.Future[T] | None:
        """The finished or pending sentence (await it through asyncio.shield), or None."""
        future = self._entries.get(key)
        if future is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        return future

    def put(self, key: Key, future: asyncio.Future[T]) -> None:
        """Keep `future` (an executor's, not to be cancelled by any one caller) under key once it succeeds."""
        if self.max_bytes <= 0:
            return
        self.misses += 1
        self._forget(key)
        self._entries[key] = future
        future.add_done_callback(lambda f: self._finished(key, f))

    def __len__(self) -> int:
        return len(self._entries)

    def _finished(self, key: Key, future: asyncio.Future[T]) -> None:
        if self._entries.get(key) is not future:
            return  # replaced or evicted meanwhile
        if future.cancelled() or future.exception() is not None:
            del self._entries[key]
            return
        size = self._size(future.result())
        self._sizes[key] = size
        self.bytes += size
        for old in list(self._entries):  # least recently used first; pending entries are skipped
            if self.bytes <= self.max_bytes:
                break
            if old in self._sizes:
                self._forget(old)

    def _forget(self, key: Key) -> None:
        self._entries.pop(key, None)
        self.bytes -= self._sizes.pop(key, 0)
