"""The cache of spoken sentences (server/voice/cache.py): shared while being made, failures never kept,
least recently used evicted by size, cloud voices not kept, off at 0 bytes."""

from __future__ import annotations

import asyncio

import pytest

from server.voice.cache import SpokenCache


def _cache(max_bytes: int = 100) -> SpokenCache[bytes]:
    return SpokenCache(max_bytes, len)


def test_a_sentence_being_made_is_shared_and_then_handed_out() -> None:
    async def main() -> None:
        cache = _cache()
        key = SpokenCache.key("piper", "Hello.")
        assert key is not None and cache.get(key) is None
        made: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        cache.put(key, made)
        waiting = cache.get(key)
        assert waiting is made and not waiting.done()  # a second asker waits for the same synthesis
        made.set_result(b"x" * 10)
        assert await asyncio.shield(waiting) == b"x" * 10
        await asyncio.sleep(0)  # done callbacks run on the loop
        assert cache.get(key) is made and cache.bytes == 10 and (cache.hits, cache.misses) == (2, 1)

    asyncio.run(main())


def test_a_failed_or_cancelled_synthesis_is_not_kept() -> None:
    async def main() -> None:
        cache = _cache()
        loop = asyncio.get_running_loop()
        for end in ("fail", "cancel"):
            key = ("piper", end)
            made: asyncio.Future[bytes] = loop.create_future()
            cache.put(key, made)
            if end == "fail":
                made.set_exception(RuntimeError("the voice failed"))
            else:
                made.cancel()
            await asyncio.sleep(0)  # done callbacks run on the loop
            assert cache.get(key) is None
            if end == "fail":
                with pytest.raises(RuntimeError):
                    made.result()
        assert len(cache) == 0 and cache.bytes == 0

    asyncio.run(main())


def test_least_recently_used_goes_first_and_pending_ones_stay() -> None:
    async def main() -> None:
        cache = _cache(max_bytes=100)
        loop = asyncio.get_running_loop()

        def finished(text: str, size: int) -> None:
            f: asyncio.Future[bytes] = loop.create_future()
            cache.put(("piper", text), f)
            f.set_result(b"x" * size)

        pending: asyncio.Future[bytes] = loop.create_future()
        cache.put(("piper", "pending"), pending)  # costs nothing until it is done
        finished("a", 40)
        finished("b", 40)
        await asyncio.sleep(0)
        assert cache.get(("piper", "a")) is not None  # a is now more recent than b
        finished("c", 40)
        await asyncio.sleep(0)
        assert cache.get(("piper", "b")) is None  # evicted: least recently used
        assert cache.get(("piper", "a")) is not None and cache.get(("piper", "c")) is not None
        assert cache.get(("piper", "pending")) is pending and cache.bytes == 80
        finished("huge", 500)  # over the whole budget: kept nowhere near it
        await asyncio.sleep(0)
        assert cache.bytes <= 100

    asyncio.run(main())


def test_cloud_voices_are_not_kept_and_zero_bytes_keeps_nothing() -> None:
    assert SpokenCache.key("litellm:openai/tts-1:alloy", "Hello.") is None
    assert SpokenCache.key("piper:rate=1.1", "Hello.") == ("piper:rate=1.1", "Hello.")

    async def main() -> None:
        cache = _cache(max_bytes=0)
        made: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        cache.put(("piper", "Hello."), made)
        made.set_result(b"x")
        await asyncio.sleep(0)
        assert cache.get(("piper", "Hello.")) is None and len(cache) == 0

    asyncio.run(main())
