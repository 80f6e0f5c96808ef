"""Microphone audio is metered in seconds, per session and per embed key (and each visitor's share), not
counted as messages: through a real server, with real speech and an embed key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from server.app import create_app
from server.hearing.ear import read_audio
from server.protocol.frames import encode_mic
from server.runner import LiveServer
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI
from tests.server.test_microphone import RATE, SPEECH, stream


def test_mic_frames_are_not_messages(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    """Far more mic frames than the per-visitor message cap allows in a minute, then typed messages: the
    cap still has room for exactly its own count of them."""
    fake_llm.queue([{"content": "One."}], [{"content": "Two."}])
    settings = mien_settings(fake_llm, tmp_path, messages_per_minute=2)

    async def main() -> None:
        with LiveServer(create_app(settings, warm_up=False)) as server:
            async with Client(server.ws_url) as c:
                await c.next_message("hello")
                await c.send({"type": "listen", "mode": "auto"})
                for seq in range(250):  # 5 s of room tone in 20 ms frames: 125 times the cap
                    await c.send(encode_mic(seq, np.zeros(320, np.int16)))
                await c.send({"type": "user_message", "text": "first"})
                assert (await c.next_message("reply_end"))["text"] == "One."
                assert not c.of_type("error")  # no frame was refused
                await c.send({"type": "user_message", "text": "second"})
                assert (await c.next_message("reply_end", after=c.index(c.of_type("reply_end")[0]) + 1))[
                    "text"
                ] == "Two."
                await c.send({"type": "user_message", "text": "third"})
                assert (await c.next_message("error"))["code"] == "rate_limited"  # the cap is real

    asyncio.run(main())


@pytest.mark.parametrize(
    ("limits", "says"),
    [
        ("listen_seconds_per_day = 3", "this site's daily speech allowance"),
        ("visitor_listen_seconds_per_day = 3", "your daily speech allowance"),
    ],
)
def test_a_keys_daily_speech_seconds(
    fake_llm: ScriptedOpenAI, tmp_path: Path, limits: str, says: str
) -> None:
    """Past the key's seconds (or the visitor's), the audio gets `rate_limited`, in this session and the
    visitor's next; the turn in progress is still answered, and typing goes on."""
    fake_llm.queue([{"content": "Heard you."}], [{"content": "Typed."}])
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.talk]\norigins = ["https://talk.example"]\nallow_speech_input = true\n{limits}\n')
    settings = mien_settings(fake_llm, tmp_path, embed_keys=str(keys))
    speech = read_audio(SPEECH / "followme-sorry.flac")  # ~4 s: the allowance ends inside it

    async def main() -> None:
        with LiveServer(create_app(settings, warm_up=False)) as server:
            async with Client(server.ws_url + "?key=talk") as c:
                await c.next_message("hello")
                await c.send({"type": "listen", "mode": "auto"})
                await stream(c, np.concatenate([np.zeros(RATE // 2, np.float32), speech]))
                refused = await c.next_message("error", code="rate_limited")
                assert says in refused["message"] and "type" in refused["message"]
                end = await c.next_message("speech_end")
                assert end["reason"] == "mic"  # the turn ended where the allowance did
                final = await c.next_message("transcript", final=True)
                assert final["text"].lower().startswith("i'm sorry")  # and was answered
                await c.next_message("reply_end")
                n = len(c.messages)
                await c.send(encode_mic(1000, np.zeros(320, np.int16)))
                assert (await c.next_message("error", after=n))["code"] == "rate_limited"
                await c.send({"type": "user_message", "text": "typing still works"})
                assert (await c.next_message("reply_end", after=n))["text"] == "Typed."
            async with Client(server.ws_url + "?key=talk") as again:  # the visitor's next session
                await again.next_message("hello")
                await again.send({"type": "listen", "mode": "auto"})
                assert says in (await again.next_message("error", code="rate_limited"))["message"]
        assert len(fake_llm.requests) == 2

    asyncio.run(main())
