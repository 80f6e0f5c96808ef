"""Cloud voices through litellm's speech API, against the scripted OpenAI-compatible server (which speaks
with Piper): audio decoded in every format, visemes from the audio, estimated word times, typed failures
with the offline voice standing in, and voices per persona over a real websocket."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from animation.arkit import INDEX
from animation.lipsync import lipsync
from server.app import create_app
from server.runner import LiveServer
from server.settings import Settings
from server.voice import Speech, VoiceFailed, Voices
from server.voice.cloud import COOLDOWN, Fallback, estimate_words
from server.voice.piper import PiperVoice
from server.voice.speech import tokens
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI

TEXT = "Hello there, my friend. Maybe Bob will pump up a big beach ball, mom."


def cloud(fake: ScriptedOpenAI, spec: str = "litellm:tts-1:alloy"):  # type: ignore[no-untyped-def]
    return Voices(cloud=Settings(api_base=fake.base_url, voice_timeout=20.0).cloud_voice()).get(spec)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "opus"])
def test_a_cloud_voice_speaks_with_visemes_and_word_times(fake_llm: ScriptedOpenAI, fmt: str) -> None:
    speech = cloud(fake_llm, f"litellm:tts-1:alloy:format={fmt}:rate=1.25").synthesize(TEXT)
    (request,) = fake_llm.speech_requests
    assert request == {
        "model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": fmt, "speed": 1.25,
    }  # fmt: skip
    assert 3.0 < speech.duration < 7.0 and np.abs(speech.audio).max() > 0.3 and speech.phonemes == []
    # The mouth comes from the audio: keys in order, inside the audio, speech between two rests.
    keys = speech.visemes()
    assert (
        np.all(np.diff(keys.times) > 0) and keys.times[0] >= 0.0 and keys.times[-1] <= speech.duration + 0.02
    )
    assert keys.visemes[-1] == "sil" and {"PP", "aa"} <= set(keys.visemes)
    # Words: every one, in order, monotone and inside the audio.
    assert [(w, o) for w, _, _, o in speech.words] == tokens(TEXT)
    starts = [a for _, a, _, _ in speech.words]
    assert starts == sorted(starts) and all(0.0 <= a <= b <= speech.duration for _, a, b, _ in speech.words)
    assert all(
        b <= a + 1e-9 for (_, _, b, _), (_, a, _, _) in zip(speech.words, speech.words[1:], strict=False)
    )
    assert speech.time_at(TEXT.index("Maybe")) == starts[4]  # cues land on their (estimated) words


def test_estimated_word_times_are_near_the_real_ones() -> None:
    # Piper knows where each word is; the estimate sees only the audio. Measured: median 53 ms, max 230 ms.
    voice = PiperVoice(noise_scale=0.0)
    errors = []
    for text in [
        "Hello there, my friend.",
        "I can't believe it, that's wonderful news!",
        "Well, let me think about that for a moment.",
        "Honestly, I doubt it; show me the evidence first.",
        "Sometimes the simplest answer, after all, is the right one.",
    ]:
        speech = voice.synthesize(text)
        estimate = estimate_words(text, lipsync(speech.audio, speech.sample_rate), speech.duration)
        errors += [abs(e[1] - w[1]) for e, w in zip(estimate, speech.words, strict=True)]
    assert np.median(errors) < 0.1 and max(errors) < 0.35


def test_provider_failures_are_typed(fake_llm: ScriptedOpenAI) -> None:
    voice = cloud(fake_llm)
    fake_llm.queue_speech({"status": 500}, {"garbage": "<html>not audio</html>"}, {"status": 401})
    with pytest.raises(VoiceFailed, match="HTTP 500"):
        voice.synthesize("Hello.")
    with pytest.raises(VoiceFailed, match="can't be decoded"):
        voice.synthesize("Hello.")
    with pytest.raises(VoiceFailed, match="HTTP 401"):
        voice.synthesize("Hello.")
    assert voice.synthesize("... !").duration == 0.0  # nothing to say: no request
    assert len(fake_llm.speech_requests) == 3


def test_a_silent_provider_times_out(fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue_speech({"hold": True})
    voice = Voices(cloud=Settings(api_base=fake_llm.base_url, voice_timeout=0.5).cloud_voice()).get(
        "litellm:tts-1:alloy"
    )
    with pytest.raises(VoiceFailed, match="Timeout"):
        voice.synthesize("Hello?")


def test_the_offline_voice_stands_in_for_a_while(fake_llm: ScriptedOpenAI) -> None:
    now = [0.0]
    reports: list[str] = []
    offline = Voices().get("auto")
    voice = Fallback(cloud(fake_llm), lambda: offline, reports.append, clock=lambda: now[0])
    fake_llm.queue_speech({"status": 503})
    first = voice.synthesize("First try.")
    assert (
        first.phonemes
        and len(reports) == 1
        and "HTTP 503" in reports[0]
        and "piper speaks instead" in reports[0]
    )
    now[0] += COOLDOWN / 2
    assert voice.synthesize("Still offline.").phonemes  # Piper's, with phonemes; the cloud isn't asked
    assert len(fake_llm.speech_requests) == 1 and len(reports) == 1
    now[0] += COOLDOWN
    again = voice.synthesize("Back in the cloud.")
    assert not again.phonemes and again.keys is not None and len(fake_llm.speech_requests) == 2


# -- over the websocket -------------------------------------------------------------------------------


@pytest.fixture
def cloud_mien(fake_llm: ScriptedOpenAI, tmp_path: Path) -> Iterator[LiveServer]:
    """Mien whose server voice is a cloud voice at the scripted server (the LLM's api_base)."""
    settings = mien_settings(fake_llm, tmp_path, voice="litellm:tts-1:alloy")
    with LiveServer(create_app(settings, warm_up=False)) as server:
        yield server


def test_a_cloud_voice_reply_and_a_failure_that_keeps_the_session(
    cloud_mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    async def main() -> None:
        async with Client(cloud_mien.ws_url) as c:
            hello = await c.next_message("hello")
            assert hello["voice"] is True and hello["persona"]["voice"] == "litellm:tts-1:alloy"
            voices = {p["id"]: p["voice"] for p in hello["personas"]}
            assert voices["mien"] == "litellm:tts-1:alloy" and voices["guide"].startswith("piper")
            await c.send({"type": "set_voice", "enabled": True})
            await c.send(
                {"type": "speak", "text": "[joy] Hello there, my friend. [sadness] Goodbye for now."}
            )
            end = await c.next_message("reply_end")
            assert end["status"] == "complete"
            assert [r["input"] for r in fake_llm.speech_requests] == [
                "Hello there, my friend. ",
                "Goodbye for now.",
            ]
            speech = c.of_type("speech", end["reply_id"])
            assert [s["sentence"] for s in speech] == [0, 1] and len(c.audio) == 2
            for (_, _, ogg), s in zip(c.audio, speech, strict=True):
                audio, rate = sf.read(io.BytesIO(ogg))
                assert abs(len(audio) / rate * 1000 - s["duration_ms"]) < 60 and np.abs(audio).max() > 0.1
                assert s["words"] and all(
                    s["t_ms"] <= w["t_ms"] <= w["end_ms"] <= s["t_ms"] + s["duration_ms"] + 1
                    for w in s["words"]
                )
            (cue,) = speech[1]["cues"]
            assert cue["emotion"] == "sadness" and cue["t_ms"] == speech[1]["words"][0]["t_ms"]
            # The audio-driven mouth moves while the cloud voice speaks.
            first = speech[0]
            await c.wait_for(
                lambda cl: cl.frames and cl.frames[-1][1] > first["t_ms"] + first["duration_ms"], "frames"
            )
            jaw = [
                f[2][INDEX["jawOpen"]]
                for f in c.frames
                if first["t_ms"] <= f[1] <= first["t_ms"] + first["duration_ms"]
            ]
            assert max(jaw) > 0.15

            # The provider fails: a typed error, the offline voice speaks both sentences, nothing is lost.
            fake_llm.queue_speech({"status": 500})
            asked = len(fake_llm.speech_requests)
            await c.send({"type": "speak", "text": "One more thing. And another."})
            end2 = await c.next_message("reply_end", after=c.index(end) + 1)
            assert end2["status"] == "complete" and end2["text"] == "One more thing. And another."
            (error,) = [m for m in c.messages[c.index(end) :] if m["type"] == "error"]
            # A plain sentence: the provider's text (it may name internal endpoints) stays in the log.
            assert error["code"] == "voice_failed" and "built-in voice" in error["message"]
            assert "HTTP" not in error["message"]
            assert error["reply_id"] is None  # the reply itself is whole
            assert len(c.of_type("speech", end2["reply_id"])) == 2 and len(c.audio) == 4
            assert len(fake_llm.speech_requests) == asked + 1  # offline for a while: no request per sentence
            # The session lives on.
            await c.send({"type": "speak", "text": "Still here."})
            end3 = await c.next_message("reply_end", after=c.index(end2) + 1)
            assert end3["status"] == "complete" and len(c.of_type("speech", end3["reply_id"])) == 1

    asyncio.run(main())


def test_each_persona_speaks_with_its_own_voice(mien: LiveServer) -> None:
    text = "Well, that is a rather interesting idea, my friend."

    async def spoken(persona: str) -> tuple[str, int]:
        async with Client(f"{mien.ws_url}?persona={persona}") as c:
            hello = await c.next_message("hello")
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "speak", "text": text})
            end = await c.next_message("reply_end")
            (speech,) = c.of_type("speech", end["reply_id"])
            return hello["persona"]["voice"], speech["duration_ms"]

    async def main() -> None:
        got = {p: await spoken(p) for p in ("mien", "enthusiast", "sceptic")}
        assert got["mien"][0] == "piper" and got["sceptic"][0] == "piper:rate=0.9:pitch=0.9"
        # Zip talks fastest, Sol slowest (the same words).
        assert got["enthusiast"][1] < got["mien"][1] < got["sceptic"][1]

    asyncio.run(main())


def test_speech_without_phonemes_gets_visemes_from_its_audio() -> None:
    said = PiperVoice(noise_scale=0.0).synthesize("Bob bought a map.")
    bare = Speech(said.text, said.audio, said.sample_rate)  # a user's WAV: audio only
    keys = bare.visemes()
    assert "PP" in keys.visemes and keys.visemes[-1] == "sil" and keys.times[-1] <= bare.duration + 0.02
