"""A voice that matches the face (server/voice/prosody.py): per emotion, the offline voice's rate, pitch and
loudness, measured from the audio with a pitch tracker and a meter Mien did not write (pyworld's DIO +
StoneMask, pyloudnorm), with timings that still match the audio; the cache tells renditions apart; a cloud
voice gets `speed` or an instruction; the speaker speaks each sentence in its strongest cue's tone."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bench.prosody import lufs, median_f0, rms_dbfs
from server.events import Cue, Sentence
from server.settings import Settings
from server.voice import Voices
from server.voice.cache import SpokenCache
from server.voice.espeak import EspeakVoice
from server.voice.piper import PiperVoice
from server.voice.prosody import NEUTRAL, for_cues, louder, prosody, table
from server.voice.speech import Speech
from tests.fakes.openai_server import ScriptedOpenAI

SENTENCES = ("I really did not expect to see you here today.", "We will have to talk about what happened.")


@pytest.fixture(scope="module")
def voice() -> PiperVoice:
    return PiperVoice(noise_scale=0.0)  # no sampling noise: the same audio every run


def test_the_table_cites_its_sources_and_neutral_changes_nothing() -> None:
    rows = table()
    from animation.emotions import EMOTIONS

    assert set(rows) == set(EMOTIONS)
    assert prosody("neutral", 1.0) == NEUTRAL and prosody("joy", 0.0) == NEUTRAL
    assert prosody("nope", 1.0) == NEUTRAL
    sad, joy, anger = rows["sadness"], rows["joy"], rows["anger"]
    assert sad.rate < 1 < joy.rate and sad.pitch < 1 < joy.pitch and sad.gain_db < 0 < anger.gain_db


@pytest.mark.parametrize("text", SENTENCES)
def test_sadness_is_slower_and_lower_than_joy(voice: PiperVoice, text: str) -> None:
    sad = voice.synthesize(text, prosody("sadness", 1.0))
    joy = voice.synthesize(text, prosody("joy", 1.0))
    assert sad.duration >= 1.08 * joy.duration
    f0_sad, f0_joy = median_f0(sad.audio, sad.sample_rate), median_f0(joy.audio, joy.sample_rate)
    assert f0_sad <= 0.95 * f0_joy, (f0_sad, f0_joy)


def test_anger_is_louder_than_sadness_and_nothing_clips(voice: PiperVoice) -> None:
    text = SENTENCES[0]
    anger, sad = (voice.synthesize(text, prosody(e, 1.0)) for e in ("anger", "sadness"))
    neutral = voice.synthesize(text)
    assert rms_dbfs(anger.audio) > rms_dbfs(neutral.audio) + 2 > rms_dbfs(sad.audio) + 4
    assert lufs(anger.audio, anger.sample_rate) > lufs(sad.audio, sad.sample_rate) + 5
    assert np.abs(anger.audio).max() <= 0.95 + 1e-6  # the limiter keeps headroom for the codec


def test_half_intensity_lies_between_neutral_and_full(voice: PiperVoice) -> None:
    text = SENTENCES[1]
    half, full = prosody("sadness", 0.5), prosody("sadness", 1.0)
    assert 1 > half.rate > full.rate and 1 > half.pitch > full.pitch and 0 > half.gain_db > full.gain_db
    spoken = [voice.synthesize(text, p) for p in (NEUTRAL, half, full)]
    durations = [s.duration for s in spoken]
    levels = [rms_dbfs(s.audio) for s in spoken]
    pitches = [median_f0(s.audio, s.sample_rate) for s in spoken]
    assert durations[0] < durations[1] < durations[2]
    assert levels[0] > levels[1] > levels[2]
    assert pitches[0] > pitches[2] and pitches[1] > pitches[2]


@pytest.mark.parametrize("emotion", ["sadness", "joy", "anger"])
def test_the_timing_still_matches_the_audio(voice: PiperVoice, emotion: str) -> None:
    text = "Hello there, my friend. Maybe Bob will pump up a big beach ball."
    speech = voice.synthesize(text, prosody(emotion, 1.0))
    plain = voice.synthesize(text)
    # Phonemes tile the whole modified audio, ending where it ends; words are inside it, in order.
    assert speech.phonemes[0][1] == 0.0 and abs(speech.phonemes[-1][2] - speech.duration) < 1e-6
    assert all(a <= b for _, a, b in speech.phonemes)
    assert [w for w, *_ in speech.words] == [w for w, *_ in plain.words]
    assert all(0 <= a < b <= speech.duration + 1e-6 for _, a, b, _ in speech.words)
    # Where a word starts scales with the whole: each word keeps its place in the sentence.
    rel = [a / speech.duration for _, a, _, _ in speech.words]
    rel0 = [a / plain.duration for _, a, _, _ in plain.words]
    assert max(abs(x - y) for x, y in zip(rel, rel0, strict=True)) < 0.06
    # The mouth's keys come from those phonemes: none past the end of the audio.
    assert speech.visemes().times[-1] <= speech.duration + 1e-6


def test_espeak_gets_rate_pitch_and_loudness() -> None:
    voice = EspeakVoice()  # `make test` installs Debian's libespeak-ng1: its absence is a failure, not a skip
    text = SENTENCES[0]
    sad, joy = (voice.synthesize(text, prosody(e, 1.0)) for e in ("sadness", "joy"))
    assert sad.duration >= 1.08 * joy.duration
    assert median_f0(sad.audio, sad.sample_rate) <= 0.95 * median_f0(joy.audio, joy.sample_rate)
    assert rms_dbfs(sad.audio) < rms_dbfs(joy.audio) - 3
    assert abs(sad.phonemes[-1][2] - sad.duration) < 1e-6


def test_a_sentence_takes_its_strongest_cue() -> None:
    assert for_cues(()) == NEUTRAL
    cues = (Cue("joy", 0.3, 0), Cue("sadness", 0.84, 5), Cue("anger", 0.84, 9))
    chosen = for_cues(cues)
    assert (chosen.emotion, chosen.intensity) == ("sadness", 0.8)  # quantised to tenths; first of equals
    assert for_cues([Cue("sadness", 0.81)]) == for_cues([Cue("sadness", 0.79)])  # one cache entry
    assert prosody("anger", 3.0) == prosody("anger", 1.0)


def test_the_cache_tells_renditions_apart() -> None:
    sad, joy = prosody("sadness", 1.0).tag, prosody("joy", 1.0).tag
    keys = {SpokenCache.key("piper", "Hello.", t) for t in ("", sad, joy, prosody("sadness", 0.5).tag)}
    assert len(keys) == 4 and SpokenCache.key("piper", "Hello.", NEUTRAL.tag) == ("piper", "Hello.")

    async def main() -> None:
        cache: SpokenCache[bytes] = SpokenCache(100, len)
        made: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        key = SpokenCache.key("piper", "Hello.", sad)
        assert key is not None
        cache.put(key, made)
        made.set_result(b"sad")
        await asyncio.sleep(0)
        assert cache.get(("piper", "Hello.")) is None and cache.get(key) is made

    asyncio.run(main())


def test_the_louder_limiter_keeps_peaks_and_raises_the_body() -> None:
    x = (0.9 * np.sin(np.linspace(0, 200, 8000)) * np.linspace(0.05, 1, 8000)).astype(np.float32)
    y = louder(x, 4.0)
    assert np.abs(y).max() <= 0.95 and rms_dbfs(y) > rms_dbfs(x) + 2.5
    assert louder(x, 0.0) is x and np.allclose(louder(x, -6.0), x * 10 ** (-6 / 20), atol=1e-6)


def _cloud(fake: ScriptedOpenAI, spec: str):  # type: ignore[no-untyped-def]
    return Voices(cloud=Settings(api_base=fake.base_url, voice_timeout=20.0).cloud_voice()).get(spec)


def test_a_cloud_voice_gets_speed_or_an_instruction(fake_llm: ScriptedOpenAI) -> None:
    sad = prosody("sadness", 1.0)
    tts1 = _cloud(fake_llm, "litellm:tts-1:alloy:rate=1.2")
    assert isinstance(tts1.synthesize("Hello.", sad), Speech)
    tts1.synthesize("Hello.")
    styled = _cloud(fake_llm, "litellm:gpt-4o-mini-tts:coral")
    styled.synthesize("Hello.", sad)
    styled.synthesize("Hello.", prosody("joy", 0.3))
    styled.synthesize("Hello.")
    r = fake_llm.speech_requests
    assert r[0]["speed"] == pytest.approx(1.2 * sad.rate, abs=1e-3) and "instructions" not in r[0]
    assert r[1]["speed"] == 1.2
    assert r[2]["instructions"] == f"Speak clearly {sad.style}." and "speed" not in r[2]
    assert r[3]["instructions"].startswith("Speak slightly cheerfully")
    assert "instructions" not in r[4] and "speed" not in r[4]


def test_the_speaker_speaks_each_sentence_in_its_tone(voice: PiperVoice) -> None:
    from server.voice.speaker import Speaker

    asked: list[tuple[str, str]] = []

    class Recording:
        name, sample_rate = "rec", voice.sample_rate

        def synthesize(self, text, prosody=NEUTRAL):  # type: ignore[no-untyped-def]
            asked.append((text.strip(), prosody.tag))
            return voice.synthesize(text, prosody)

    class Face:
        def now(self) -> float:
            return 0.0

        def cue(self, *a: object) -> None: ...
        def gesture(self, *a: object) -> None: ...
        def visemes(self, *a: object) -> None: ...
        def clear_speech(self) -> None: ...

    async def main() -> None:
        async def send(*a: object) -> None: ...

        speaker = Speaker(1, Recording(), Face(), 0.0, send)  # type: ignore[arg-type]
        speaker.say(Sentence(0, "I lost my keys.", (Cue("sadness", 1.0, 0),)))
        speaker.say(Sentence(16, "Then I found them!", (Cue("joy", 0.4, 16), Cue("surprise", 0.7, 21))))
        speaker.say(Sentence(35, "Anyway."))
        await speaker.finish()

    asyncio.run(main())
    assert asked == [
        ("I lost my keys.", "sadness@1"), ("Then I found them!", "surprise@0.7"), ("Anyway.", ""),
    ]  # fmt: skip
