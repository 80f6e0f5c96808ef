"""The embedded default model: one short real reply from SmolLM2 through litellm's custom provider."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from server.llm import LOCAL_MODEL, Gateway, ModelOptions
from server.llm.local import gguf_path, register


def stream_reply(messages: list[dict[str, str]], options: ModelOptions) -> AsyncIterator[str]:
    return Gateway(options).stream(messages)


def test_gguf_ships_in_the_installed_wheel() -> None:
    path = gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_embedded_model_streams_a_short_reply() -> None:
    settings = ModelOptions(model=LOCAL_MODEL, max_tokens=24, temperature=0.0)

    async def run() -> list[str]:
        messages = [{"role": "user", "content": "Say hello in five words."}]
        return [chunk async for chunk in stream_reply(messages, settings)]

    chunks = asyncio.run(run())
    assert len(chunks) >= 2  # streamed, not one blob
    assert any(c.isalpha() for c in "".join(chunks))


def test_cancelling_stops_local_generation_early() -> None:
    settings = ModelOptions(model=LOCAL_MODEL, max_tokens=400, temperature=0.0)

    async def run() -> int:
        n = 0
        messages = [{"role": "user", "content": "Write a very long story about the sea."}]
        agen = stream_reply(messages, settings)
        async for _ in agen:
            n += 1
            if n == 3:
                break
        await agen.aclose()
        # The next request gets the (single, serialized) model: it would wait behind a runaway generation.
        again = [
            c async for c in stream_reply([{"role": "user", "content": "Hi"}], ModelOptions(max_tokens=4))
        ]
        return len(again)

    assert asyncio.run(run()) >= 1
    cancelled, _ = list(register().history)[-2:]
    assert cancelled[1] is True and cancelled[0] < 40  # stopped near token 3, not at max_tokens=400


def test_a_reply_cancelled_while_waiting_for_the_model_skips_its_prefill() -> None:
    """Stopped before it got the model: llama.cpp never reads its prompt (the context is untouched), and
    nothing is emitted."""
    model = register()
    llama = model.load()
    list(llama.create_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=2, stream=True))
    before = llama.n_tokens
    stop, emitted = threading.Event(), []
    stop.set()
    messages = [{"role": "user", "content": "A prompt the context has never seen: " + "sea " * 200}]
    model._generate(messages, {"max_tokens": 8}, lambda *a: emitted.append(a), stop)
    assert llama.n_tokens == before and emitted == []
    assert model.history[-1] == (0, True)
