"""The provider's quota for the configured model (`model_rpm`, `model_tpm`, server/llm/quota.py): a request
over it never reaches the provider (the scripted OpenAI-compatible server counts what reaches it), the
client is told `busy`, a fallback model is tried instead, and with `redis_url` every process and machine
shares one quota (real `mien serve` processes and a real `redis-server`), even for requests sent at once.
A Redis that doesn't answer makes each process count for itself, without holding the reply up."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.app import create_app
from server.llm import Gateway
from server.llm.quota import QuotaReached
from server.runner import LiveServer
from server.settings import ConfigError, Settings
from tests.engines import RedisServer
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI
from tests.fakes.process import MienProcess

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


async def _reply(gateway: Gateway) -> str:
    return "".join([chunk async for chunk in gateway.stream(MESSAGES)])


async def _ask(c: Client, text: str) -> tuple[dict[str, object], dict[str, object] | None]:
    """Send a message; its reply_end, and the error that came with it (if any)."""
    n = len(c.messages)
    await c.send({"type": "user_message", "text": text})
    end = await c.next_message("reply_end", after=n)
    errors = [m for m in c.messages[n:] if m["type"] == "error"]
    return end, errors[0] if errors else None


def test_settings_read_the_quota_and_hand_it_to_the_gateway() -> None:
    settings = Settings.load(
        {"MIEN_MODEL_RPM": "60", "MIEN_MODEL_TPM": "90000", "MIEN_REDIS_URL": "unix:///r"}
    )
    options = settings.model_options()
    assert (options.model_rpm, options.model_tpm, options.redis_url) == (60, 90000, "unix:///r")
    assert Settings().model_options().model_rpm == 0  # no limit unless set
    with pytest.raises(ConfigError, match="model_rpm"):
        Settings.load({"MIEN_MODEL_RPM": "-1"})


def test_the_third_reply_within_the_minute_never_reaches_the_model(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    with LiveServer(create_app(mien_settings(fake_llm, tmp_path, model_rpm=2), warm_up=False)) as live:

        async def main() -> None:
            async with Client(live.ws_url) as c:
                for text in ("one", "two"):
                    end, error = await _ask(c, text)
                    assert end["status"] == "complete" and error is None
                end, error = await _ask(c, "three")
                assert error is not None and error["code"] == "busy"
                assert "rate limit" in str(error["message"]) and error["reply_id"] == end["reply_id"]
                assert end["status"] == "error" and end["text"] == ""

        asyncio.run(main())
    assert [r["messages"][-1]["content"] for r in fake_llm.requests] == ["one", "two"]


def test_tokens_per_minute_count_the_prompt_and_max_tokens(fake_llm: ScriptedOpenAI) -> None:
    """Each request costs its prompt (a few tokens) plus max_tokens (100): two fit in 250, a third doesn't."""
    settings = mien_settings(fake_llm, None, max_tokens=100, model_tpm=250)

    async def main() -> None:
        gateway = Gateway(settings.model_options())
        assert [await _reply(gateway), await _reply(gateway)] == ["Hello.", "Hello."]
        with pytest.raises(QuotaReached) as refused:
            await _reply(gateway)
        assert 0 < refused.value.wait <= 60

    asyncio.run(main())
    assert len(fake_llm.requests) == 2


def test_a_model_over_its_quota_gives_way_to_its_fallback(fake_llm: ScriptedOpenAI) -> None:
    """The quota is the configured model's: over it, that model is neither asked nor retried, and the next
    fallback answers; with no fallback, the reply is refused."""
    fake_llm.queue([{"content": "From the model."}], [{"content": "From the fallback."}])
    options = mien_settings(fake_llm, None, model_rpm=1, retries=2, fallbacks=("fake-fallback",))

    async def main() -> None:
        gateway = Gateway(options.model_options())
        assert await _reply(gateway) == "From the model."
        assert await _reply(gateway) == "From the fallback."
        alone = Gateway(mien_settings(fake_llm, None, model_rpm=1).model_options())
        assert await _reply(alone) == "Hello."
        with pytest.raises(QuotaReached, match="rate limit is reached"):
            await _reply(alone)

    asyncio.run(main())
    assert [r["model"] for r in fake_llm.requests] == ["fake-model", "fake-fallback", "fake-model"]


def test_gateways_sharing_redis_share_the_tokens_per_minute(
    fake_llm: ScriptedOpenAI, redis_server: RedisServer
) -> None:
    settings = mien_settings(fake_llm, None, max_tokens=100, model_tpm=250, redis_url=redis_server.url)

    async def main() -> None:
        one, two = Gateway(settings.model_options()), Gateway(settings.model_options())
        try:
            assert await _reply(one) == "Hello."
            assert await _reply(two) == "Hello."
            for gateway in (one, two):
                with pytest.raises(QuotaReached):
                    await _reply(gateway)
        finally:
            await one.aclose()
            await two.aclose()

    asyncio.run(main())
    assert len(fake_llm.requests) == 2


def test_cancelling_a_counted_reply_still_closes_the_upstream_call(
    fake_llm: ScriptedOpenAI, redis_server: RedisServer
) -> None:
    fake_llm.queue([{"content": "Thinking"}, {"hold": True}, {"content": "never sent"}])
    settings = mien_settings(fake_llm, None, model_rpm=5, redis_url=redis_server.url)

    async def main() -> list[str]:
        gateway = Gateway(settings.model_options())
        got: list[str] = []
        first = asyncio.Event()

        async def consume() -> None:
            async for chunk in gateway.stream(MESSAGES):
                got.append(chunk)
                first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(fake_llm.disconnected.wait, 20)  # the fake server sees the connection close
        await gateway.aclose()
        return got

    assert asyncio.run(main()) == ["Thinking"]
    assert fake_llm.disconnected.is_set()


def test_an_unanswering_redis_leaves_each_process_counting_for_itself(fake_llm: ScriptedOpenAI) -> None:
    """A Redis that accepts connections and never answers (a listening socket nobody reads): the reply is
    held up by about the client's timeout (1 s, one retry), the quota is then counted in this process, and
    the next replies don't wait for Redis at all."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        settings = mien_settings(fake_llm, None, model_rpm=2, redis_url=url)

        async def main() -> list[float]:
            gateway = Gateway(settings.model_options())
            took = []
            for _ in range(2):
                start = time.monotonic()
                assert await _reply(gateway) == "Hello."
                took.append(time.monotonic() - start)
            with pytest.raises(QuotaReached):  # counted here: two a minute in this process
                await _reply(gateway)
            await gateway.aclose()
            return took

        first, second = asyncio.run(main())
    assert first < 5.0 and second < 1.0
    assert len(fake_llm.requests) == 2


def _processes(fake_llm: ScriptedOpenAI, tmp_path: Path, redis: RedisServer, rpm: int) -> list[MienProcess]:
    env = {"MIEN_REDIS_URL": redis.url, "MIEN_MODEL_RPM": str(rpm)}
    return [MienProcess(fake_llm, tmp_path / "data", env=env).start() for _ in range(2)]


def test_two_processes_sharing_redis_share_the_requests_per_minute(
    fake_llm: ScriptedOpenAI, tmp_path: Path, redis_server: RedisServer
) -> None:
    a, b = _processes(fake_llm, tmp_path, redis_server, rpm=3)
    try:

        async def main() -> None:
            async with Client(a.url) as on_a, Client(b.url) as on_b:
                for c, text in ((on_a, "one"), (on_b, "two"), (on_a, "three")):
                    end, error = await _ask(c, text)
                    assert end["status"] == "complete" and error is None, error
                for c, text in ((on_b, "four"), (on_a, "five")):
                    end, error = await _ask(c, text)
                    assert end["status"] == "error" and error is not None and error["code"] == "busy"

        asyncio.run(main())
    finally:
        for server in (a, b):
            server.kill()
    assert [r["messages"][-1]["content"] for r in fake_llm.requests] == ["one", "two", "three"]


def test_replies_sent_at_once_to_two_processes_never_exceed_the_quota(
    fake_llm: ScriptedOpenAI, tmp_path: Path, redis_server: RedisServer
) -> None:
    """Four conversations on each process ask at the same moment: exactly three replies reach the model
    (litellm's Router let 2 x rpm through here: its counts reach Redis in batches)."""
    a, b = _processes(fake_llm, tmp_path, redis_server, rpm=3)
    try:

        async def main() -> Counter[str]:
            clients = [await Client(s.url).__aenter__() for s in (a, b) for _ in range(4)]
            await asyncio.gather(*(c.next_message("hello") for c in clients))
            ends = await asyncio.gather(*(_ask(c, f"at once {i}") for i, c in enumerate(clients)))
            for c in clients:
                await c.__aexit__()
            return Counter(str(error["code"]) if error else str(end["status"]) for end, error in ends)

        outcome = asyncio.run(main())
    finally:
        for server in (a, b):
            server.kill()
    assert outcome == Counter({"complete": 3, "busy": 5})
    assert len(fake_llm.requests) == 3
