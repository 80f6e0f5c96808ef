"""Spoken replies over a real server: sentence audio in order on the frames' clock, the mouth moving with
it, cues on the audio time of their words, and interruption stopping it all (by message order)."""

from __future__ import annotations

import asyncio
import io

import soundfile as sf

from animation.arkit import INDEX
from server.runner import LiveServer
from tests.fakes.client import Client


def test_a_spoken_reply_arrives_sentence_by_sentence_on_one_clock(mien: LiveServer) -> None:
    async def main() -> None:
        async with Client(mien.ws_url) as c:
            hello = await c.next_message("hello")
            assert hello["voice"] is True and hello["audio"]["encoding"] == "ogg-opus"
            await c.send({"type": "set_voice", "enabled": True})
            await c.send(
                {"type": "speak", "text": "[joy] Hello there, my friend. [sadness] Goodbye for now."}
            )
            end = await c.next_message("reply_end")
            assert end["status"] == "complete"
            speech = c.of_type("speech", end["reply_id"])
            assert [s["sentence"] for s in speech] == [0, 1]
            first, second = speech
            assert second["t_ms"] >= first["t_ms"] + first["duration_ms"] - 1  # in order, no overlap
            assert (first["text_start"], second["text_start"]) == (0, len("Hello there, my friend. "))
            # Audio: one Ogg/Opus file per sentence, as long as its message says, before reply_end.
            assert [(r, n) for r, n, _ in c.audio] == [(end["reply_id"], 0), (end["reply_id"], 1)]
            assert all(at <= c.index(end) for at in c.audio_at)
            for (_, _, ogg), s in zip(c.audio, speech, strict=True):
                audio, rate = sf.read(io.BytesIO(ogg))
                assert rate == hello["audio"]["sample_rate"]
                assert abs(len(audio) / rate * 1000 - s["duration_ms"]) < 60
            # Words for captions sit inside their sentence's audio.
            for s in speech:
                assert s["words"] and all(
                    s["t_ms"] <= w["t_ms"] <= w["end_ms"] <= s["t_ms"] + s["duration_ms"] + 1
                    for w in s["words"]
                )
            # The sadness cue lands on the audio time of "Goodbye", not when the text arrived.
            (cue,) = second["cues"]
            assert cue["emotion"] == "sadness" and cue["t_ms"] == second["words"][0]["t_ms"]
            # The mouth moves while the first sentence sounds, and rests after the last one.
            stop_at = second["t_ms"] + second["duration_ms"]
            await c.wait_for(lambda cl: cl.frames and cl.frames[-1][1] > stop_at + 600, "frames after speech")
            jaw = INDEX["jawOpen"]
            during = [
                f[2][jaw] for f in c.frames if first["t_ms"] <= f[1] <= first["t_ms"] + first["duration_ms"]
            ]
            after = [f[2][jaw] for f in c.frames if f[1] > stop_at + 400]
            assert max(during) > 0.15 and max(after) < 0.05

    asyncio.run(main())


def test_stop_halts_speech(mien: LiveServer) -> None:
    text = " ".join(f"This is sentence number {i} of a long speech." for i in range(12))

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "speak", "text": text})
            first = await c.next_message("speech")
            await c.send({"type": "stop"})
            end = await c.next_message("reply_end")
            assert end["status"] == "interrupted"
            n = c.index(end)
            assert not [m for m in c.messages[n:] if m["type"] == "speech"]  # nothing spoken after the end
            assert len(c.of_type("speech")) < 12
            # The mouth closes soon after: frames well past the stop show the jaw at rest.
            t_end = c.frames[-1][1] if c.frames else first["t_ms"]
            await c.wait_for(lambda cl: cl.frames and cl.frames[-1][1] > t_end + 800, "frames after stop")
            assert max(f[2][INDEX["jawOpen"]] for f in c.frames if f[1] > t_end + 500) < 0.05

    asyncio.run(main())


def test_voice_off_by_default_sends_no_audio(mien: LiveServer) -> None:
    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "speak", "text": "Silent text."})
            await c.next_message("reply_end")
            assert not c.of_type("speech") and not c.audio

    asyncio.run(main())
