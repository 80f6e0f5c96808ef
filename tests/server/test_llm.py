"""litellm against a real OpenAI-compatible SSE server on 127.0.0.1 (scripted), through the gateway."""

from __future__ import annotations

import asyncio

import pytest

from server.conversation import ReplyCue, reply_events
from server.llm import ProviderError, stream_reply
from server.settings import Settings
from server.tags import Text
from tests.fakes.openai_server import ScriptedOpenAI

MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": "Hello"}]


def settings_for(fake: ScriptedOpenAI) -> Settings:
    return Settings(model="fake-model", api_base=fake.base_url, timeout=20.0)


async def collect(fake: ScriptedOpenAI) -> list[str]:
    return [chunk async for chunk in stream_reply(MESSAGES, settings_for(fake))]


def no_inference(_: str) -> None:
    return None


def test_streams_chunks_and_sends_the_conversation(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "Hel"}, {"content": "lo "}, {"content": "there."}])
    assert asyncio.run(collect(fake_llm)) == ["Hel", "lo ", "there."]
    request = fake_llm.requests[-1]
    assert request["messages"] == MESSAGES
    assert request["stream"] is True
    assert request["model"] == "fake-model"


def test_tag_split_across_chunks_becomes_one_cue(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue(
        [{"content": "Oh [surp"}, {"content": "rise:0."}, {"content": "6] really"}, {"content": "?"}]
    )

    async def run() -> list[object]:
        return [e async for e in reply_events(stream_reply(MESSAGES, settings_for(fake_llm)), no_inference)]

    events = asyncio.run(run())
    assert "".join(e.delta for e in events if isinstance(e, Text)) == "Oh really?"
    assert [e for e in events if isinstance(e, ReplyCue)] == [ReplyCue("surprise", 0.6, 3, "tag")]


def test_cut_stream_raises_provider_error_after_partial_text(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "Partial "}, {"content": "reply"}, {"cut": True}])
    got: list[str] = []

    async def run() -> None:
        async for chunk in stream_reply(MESSAGES, settings_for(fake_llm)):
            got.append(chunk)

    with pytest.raises(ProviderError):
        asyncio.run(run())
    assert "".join(got) == "Partial reply"


def test_http_500_is_a_provider_error(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"status": 500}])
    with pytest.raises(ProviderError, match="500"):
        asyncio.run(collect(fake_llm))


def test_cancel_mid_reply_closes_the_upstream_call(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "Thinking"}, {"hold": True}, {"content": "never sent"}])

    async def run() -> list[str]:
        got: list[str] = []
        first = asyncio.Event()

        async def consume() -> None:
            async for chunk in stream_reply(MESSAGES, settings_for(fake_llm)):
                got.append(chunk)
                first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # The fake server notices the closed connection on its side.
        await asyncio.to_thread(fake_llm.disconnected.wait, 20)
        return got

    assert asyncio.run(run()) == ["Thinking"]
    assert fake_llm.disconnected.is_set()
