"""Talking to Mien over the websocket: mic frames in, turns, transcripts, replies and barge-in, on a real
uvicorn server, with real recorded speech (tests/server/data/speech) and the avatar's own voice."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import numpy as np
import soundfile

from server.app import create_app
from server.hearing.ear import read_audio, resample
from server.protocol.frames import encode_mic, pcm16
from server.runner import LiveServer
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI

SPEECH = Path(__file__).parent / "data" / "speech"
RATE = 16_000
QUIET = np.zeros(RATE // 2, np.float32)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


async def stream(c: Client, audio: np.ndarray, seq: int = 0) -> int:
    """As a browser's worklet sends it: 20 ms pieces of 16-bit audio (faster than real time: the server
    hears by the samples' count, not the clock)."""
    pcm = pcm16(audio)
    for i in range(0, len(pcm), 320):
        await c.send(encode_mic(seq, pcm[i : i + 320]))
        seq += 1
    return seq


def run(fake_llm: ScriptedOpenAI, tmp_path: Path, body, **settings: object) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        app = create_app(mien_settings(fake_llm, tmp_path, **settings), warm_up=False)
        with LiveServer(app) as server:
            async with Client(server.ws_url) as c:
                await body(c)

    asyncio.run(main())


def test_what_the_user_says_is_transcribed_and_answered(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "[surprise] Weasels? Really?"}])

    async def body(c: Client) -> None:
        hello = await c.next_message("hello")
        assert hello["protocol"] == 2 and hello["speech_input"]["available"] is True
        await c.send({"type": "listen", "mode": "auto"})
        speech = read_audio(SPEECH / "tt-weasels.flac")
        await stream(c, np.concatenate([QUIET, speech, np.zeros(2 * RATE, np.float32)]))
        start = await c.next_message("speech_start")
        assert abs(start["at_ms"] - 500) < 200  # where the speech is in the stream, not when it arrived
        listening = await c.next_message("state", after=c.index(start), state="listening")
        final = await c.next_message("transcript", final=True)
        assert words(final["text"]) == ["weasels", "have", "eaten", "our", "phone", "system"]
        assert final["words"][0]["start_ms"] < 1000 < final["words"][-1]["end_ms"]
        end = await c.next_message("speech_end")
        assert c.index(listening) < c.index(end) < c.index(final)
        assert end["reason"] in ("judged", "silence")
        reply = await c.next_message("reply_end")
        assert reply["status"] == "complete" and reply["text"] == "Weasels? Really?"
        assert c.index(final) < c.index(await c.next_message("reply_start"))
        await c.send({"type": "export_history"})
        turns = (await c.next_message("history", reason="export"))["turns"]
        assert turns[0] == {**turns[0], "role": "user", "content": final["text"]}  # kept as text, no audio

    run(fake_llm, tmp_path, body)
    sent = fake_llm.requests[-1]["messages"][-1]
    assert sent["role"] == "user" and "Weasels have eaten" in sent["content"]


def test_noise_is_no_turn_and_bad_audio_gets_typed_errors(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "Still listening."}])

    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.send(encode_mic(0, np.zeros(320, np.int16)))
        assert (await c.next_message("error"))["code"] == "mic_off"
        await c.send({"type": "listen", "mode": "auto"})
        n = len(c.messages)
        kind_5, odd_length = b"\x05\x00\x00\x00\x00\x00", b"\x03\x00\x00\x00\x00\x00\x01"
        for bad in (kind_5, odd_length, encode_mic(1, np.zeros(9000))):
            await c.send(bad)
        errors = [await c.next_message("error", after=n)]
        while len(errors) < 3:
            errors.append(await c.next_message("error", after=c.index(errors[-1]) + 1))
        assert [e["code"] for e in errors] == ["bad_audio"] * 3
        rng = np.random.default_rng(3)
        await stream(c, (rng.normal(0, 0.02, 3 * RATE)).astype(np.float32))  # hiss: no voice in it
        await c.send({"type": "listen", "mode": "off"})
        await c.send({"type": "user_message", "text": "hello?"})
        assert (await c.next_message("reply_end"))["text"] == "Still listening."
        assert not c.of_type("speech_start") and not c.of_type("transcript")

    run(fake_llm, tmp_path, body)


def test_push_to_talk_ends_the_turn_when_the_mic_closes(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "Sorry to hear."}])

    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.send({"type": "listen", "mode": "push"})
        await stream(c, np.concatenate([QUIET, read_audio(SPEECH / "dir-nomatch.flac")]))  # no silence after
        await c.send({"type": "listen", "mode": "off"})
        end = await c.next_message("speech_end")
        assert end["reason"] == "mic"
        final = await c.next_message("transcript", final=True)
        assert words(final["text"]) == words("No directory entries match your search.")
        await c.next_message("reply_end")

    run(fake_llm, tmp_path, body)


def test_speech_input_off_says_why(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    async def body(c: Client) -> None:
        info = (await c.next_message("hello"))["speech_input"]
        assert info["available"] is False and "off" in info["reason"]
        await c.send({"type": "listen", "mode": "auto"})
        assert (await c.next_message("error"))["code"] == "speech_unavailable"

    run(fake_llm, tmp_path, body, speech_input=False)


LINE = "[joy] I have been thinking about gardens all morning, and about the way tomatoes ripen in the sun."


async def speaking(c: Client) -> dict[str, object]:
    """Voice on, a long scripted line: its first sentence's speech message (the avatar is talking)."""
    await c.next_message("hello")
    await c.send({"type": "set_voice", "enabled": True})
    await c.send({"type": "listen", "mode": "auto"})
    await c.send({"type": "speak", "text": LINE})
    return await c.next_message("speech")


def test_talking_over_the_avatar_stops_it(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "Oh no, not the weasels."}])

    async def body(c: Client) -> None:
        speech = await speaking(c)
        await stream(c, np.concatenate([QUIET, read_audio(SPEECH / "tt-weasels.flac"), np.zeros(2 * RATE)]))
        duck = await c.next_message("barge_in", action="duck")
        stop = await c.next_message("barge_in", action="stop")
        assert duck["reply_id"] == stop["reply_id"] == speech["reply_id"]
        ended = await c.next_message("reply_end", reply_id=speech["reply_id"])
        assert ended["status"] == "interrupted"
        final = await c.next_message("transcript", final=True)
        assert "weasels" in words(final["text"])
        answer = await c.next_message("reply_end", reply_id=speech["reply_id"] + 1)
        assert answer["text"] == "Oh no, not the weasels."

    run(fake_llm, tmp_path, body)


def test_the_avatars_own_voice_heard_back_does_not_stop_it(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    """The reply's audio comes back into the microphone (speakers, no headphones), quieter and late, as an
    echo canceller leaves it: ducked at once, then resumed; the reply completes; nothing is sent."""

    async def body(c: Client) -> None:
        speech = await speaking(c)
        await c.wait_for(lambda c: c.audio, "the reply's audio")
        voice, rate = soundfile.read(io.BytesIO(c.audio[0][2]), dtype="float32")
        echo = 0.3 * resample(voice, rate)
        await stream(c, np.concatenate([np.zeros(RATE // 4, np.float32), echo, np.zeros(2 * RATE)]))
        await c.next_message("speech_start")
        ended = await c.next_message("reply_end", reply_id=speech["reply_id"])
        assert ended["status"] == "complete"
        assert not c.of_type("barge_in") or c.of_type("barge_in")[-1]["action"] == "resume"
        assert not [b for b in c.of_type("barge_in") if b["action"] == "stop"]
        await c.next_message("transcript", final=True)
        assert len(c.of_type("reply_start")) == 1  # the echo became no message of the user's

    run(fake_llm, tmp_path, body)
