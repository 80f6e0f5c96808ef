"""litellm against a real OpenAI-compatible SSE server on 127.0.0.1 (scripted), through the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from server.events import Cue, Text
from server.llm import Gateway, ProviderError
from server.reply.sentences import reply_events
from server.settings import Settings
from tests.fakes.openai_server import ScriptedOpenAI

MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": "Hello"}]


def stream(settings: Settings) -> AsyncIterator[str]:
    return Gateway(settings.model_options()).stream(MESSAGES)


def settings_for(fake: ScriptedOpenAI) -> Settings:
    return Settings(model="fake-model", api_base=fake.base_url, timeout=20.0, retries=0)


async def collect(fake: ScriptedOpenAI) -> list[str]:
    return [chunk async for chunk in stream(settings_for(fake))]


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
        return [e async for e in reply_events(stream(settings_for(fake_llm)), no_inference)]

    events = asyncio.run(run())
    assert "".join(e.delta for e in events if isinstance(e, Text)) == "Oh really?"
    assert [e for e in events if isinstance(e, Cue)] == [Cue("surprise", 0.6, 3, "tag")]


def partial_then_failure(settings: Settings, match: str | None = None) -> list[str]:
    """The chunks a failing stream delivered before its ProviderError (which must come)."""
    got: list[str] = []

    async def run() -> None:
        async for chunk in stream(settings):
            got.append(chunk)

    with pytest.raises(ProviderError, match=match):
        asyncio.run(run())
    return got


def test_cut_stream_raises_provider_error_after_partial_text(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "Partial "}, {"content": "reply"}, {"cut": True}])
    assert "".join(partial_then_failure(settings_for(fake_llm))) == "Partial reply"


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
            async for chunk in stream(settings_for(fake_llm)):
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


def test_429_then_success_is_retried(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"status": 429}], [{"content": "Recovered."}])
    settings = Settings(model="fake-model", api_base=fake_llm.base_url, timeout=20.0, retries=1)
    got = asyncio.run(_collect_with(settings))
    assert got == ["Recovered."] and len(fake_llm.requests) == 2


def test_fallback_model_is_tried_after_the_model_fails(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"status": 500}], [{"status": 503}], [{"content": "From the fallback."}])
    settings = Settings(
        model="primary", fallbacks=("backup",), api_base=fake_llm.base_url, timeout=20.0, retries=1
    )
    assert asyncio.run(_collect_with(settings)) == ["From the fallback."]
    assert [r["model"] for r in fake_llm.requests] == ["primary", "primary", "backup"]


def test_all_models_failing_reports_each(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"status": 400}], [{"status": 401}])
    settings = Settings(model="a", fallbacks=("b",), api_base=fake_llm.base_url, timeout=20.0, retries=3)
    with pytest.raises(ProviderError) as e:
        asyncio.run(_collect_with(settings))
    # 400/401 are not retried: one request per model, and the error names both.
    assert [r["model"] for r in fake_llm.requests] == ["a", "b"]
    assert "a:" in str(e.value) and "b:" in str(e.value)


def test_silent_provider_times_out_with_partial_text(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "Started"}, {"hold": True}])
    settings = Settings(model="fake-model", api_base=fake_llm.base_url, timeout=1.0, retries=0)
    assert partial_then_failure(settings, match=r"(?i)timeout|timed out") == ["Started"]


def test_garbage_in_the_stream_is_a_provider_error(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "Some text"}, {"garbage": "{not json"}, {"content": "more"}])
    assert partial_then_failure(settings_for(fake_llm)) == ["Some text"]


async def _collect_with(settings: Settings) -> list[str]:
    return [chunk async for chunk in stream(settings)]


def test_reply_split_at_every_position_through_the_server(fake_llm: ScriptedOpenAI) -> None:
    reply = "Hi [joy:0.7] there *smiles* see [1] 😀 ok [thinking]."
    for i in range(1, len(reply)):
        fake_llm.queue([{"content": reply[:i]}, {"content": reply[i:]}])

    async def run() -> list[tuple[str, list[tuple[str, float, int]]]]:
        results = []
        for _ in range(1, len(reply)):
            events = [e async for e in reply_events(stream(settings_for(fake_llm)), no_inference)]
            text = "".join(e.delta for e in events if isinstance(e, Text))
            cues = [(c.emotion, c.intensity, c.offset) for c in events if isinstance(c, Cue)]
            results.append((text, cues))
        return results

    results = asyncio.run(run())
    expected = (
        "Hi there see [1] ok.",
        [("joy", 0.7, 3), ("joy", 0.8, 9), ("joy", 0.8, 17), ("thinking", 1.0, 19)],
    )
    assert all(r == expected for r in results), next(r for r in results if r != expected)
