"""Breath sounds in the voice (issue 16; server/voice/sounds.py): a reply's [sigh] and [laugh] are heard in
its audio, in front of, inside or after the piece they fall in, with the mouth, the words, the cues and the
gesture on the same clock. Checked on the animation clock of a face that records what it is asked, with
voices whose word times are known, with Piper itself, and through a real server; never on the wall clock."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from animation.phonemes import Visemes
from server.events import Cue, Gesture, Sentence
from server.protocol import SpeechMessage
from server.runner import LiveServer
from server.voice.breath import synthesize
from server.voice.cache import SpokenCache
from server.voice.prosody import NEUTRAL, Prosody
from server.voice.sounds import FALLBACK_F0, LEVEL, Sound, median_f0, mix, wanted
from server.voice.speaker import Speaker, spoken_cache
from server.voice.speech import Speech
from tests.fakes.client import Client
from tests.server.test_gesture_timing import NOW, PAUSE, RATE, T_START, WORD, KnownVoice, RecordingFace

TEXT = "That is very funny indeed."


class ToneVoice(KnownVoice):
    """KnownVoice's timing, each word a harmonic tone at F0 peaking at PEAK (its fundamental left out, as
    a voice's often is weak): a voice whose pitch and loudness are known."""

    F0, PEAK = 150.0, 0.8

    def synthesize(self, text: str, prosody: Prosody = NEUTRAL) -> Speech:
        speech = super().synthesize(text, prosody)
        t = np.arange(len(speech.audio)) / RATE
        tone = sum(np.sin(2 * np.pi * self.F0 * h * t) / h for h in range(2, 8))
        inside = np.zeros(len(t), bool)
        for _w, a, b, _o in speech.words:
            inside |= (t >= a) & (t < b - 0.03)
        audio = np.where(inside, tone, 0.0)
        audio = (self.PEAK * audio / np.abs(audio).max()).astype(np.float32)
        return Speech(text, audio, RATE, [], speech.words, speech.keys, speech.stresses)


class MouthFace(RecordingFace):
    def __init__(self) -> None:
        super().__init__()
        self.keys: list[tuple[float, Visemes]] = []

    def visemes(self, t0: float, keys: Visemes) -> None:  # type: ignore[override]
        self.keys.append((t0, keys))


def speak(
    sentence: Sentence, voice: KnownVoice | None = None, cache: SpokenCache | None = None
) -> tuple[MouthFace, SpeechMessage]:
    face, sent = MouthFace(), []

    async def main() -> None:
        async def send(message: SpeechMessage, audio: bytes) -> None:
            sent.append(message)

        speaker = Speaker(1, voice or KnownVoice(), face, T_START, send, cache=cache)  # type: ignore[arg-type]
        speaker.say(sentence)
        await speaker.finish()

    asyncio.run(main())
    (message,) = sent
    return face, message


def laugh_at(text: str, word: str | None, source: str = "tag") -> Sentence:
    offset = text.index(word) if word else len(text)
    gesture = Gesture("laugh", offset, 1.0, source)  # type: ignore[arg-type]
    return Sentence(0, text, (Cue("joy", 1.0, offset),), (gesture,))


def ms(t: float) -> int:
    return round((t - T_START) * 1000)


def test_a_laugh_inside_a_sentence_is_heard_there_with_the_mouth_open_on_each_note() -> None:
    laugh = synthesize("laugh", RATE, 1.0, FALLBACK_F0, np.random.default_rng(0))  # its length: by intensity
    _, plain = speak(Sentence(0, TEXT))
    face, said = speak(laugh_at(TEXT, "funny"))
    assert said.duration_ms - plain.duration_ms == pytest.approx(1000 * laugh.duration, abs=1)
    cut = TEXT.index("funny")
    for before, after in zip(plain.words, said.words, strict=True):
        shift = round(1000 * laugh.duration) if before.offset >= cut else 0
        assert after.t_ms - before.t_ms == pytest.approx(shift, abs=1)
        assert after.end_ms - before.end_ms == pytest.approx(shift, abs=1)
    # KnownVoice's words touch: the laugh starts where "funny" started, and the gesture and its cue with it.
    start = NOW + 0.12 + PAUSE + 3 * WORD
    (gesture,) = said.gestures
    assert gesture.gesture == "laugh" and gesture.t_ms == ms(start)
    assert face.gestures == [("laugh", pytest.approx(start))] and face.cues == [("joy", pytest.approx(start))]
    # The mouth opens ("aa", the /h/ taking the vowel's shape) for each note, on the sentence's clock.
    ((t0, keys),) = face.keys
    opens = [t0 + t for t, v in zip(keys.times, keys.visemes, strict=True) if v == "aa"]
    for onset in laugh.onsets:
        assert any(0 <= start + onset - t <= 0.06 for t in opens), (onset, opens)
    between = [t0 + t for t, v in zip(keys.times, keys.visemes, strict=True) if v == "sil"]
    assert sum(start < t < start + laugh.duration for t in between) >= len(laugh.onsets) - 1


def test_a_laugh_at_a_sentences_start_goes_before_it_and_at_its_end_after_it() -> None:
    _, plain = speak(Sentence(0, TEXT))
    _, first = speak(laugh_at(TEXT, "That"))
    shift = first.duration_ms - plain.duration_ms
    assert shift > 500 and first.gestures[0].t_ms == first.t_ms  # in front of the audio
    assert [w.t_ms - shift for w in first.words] == pytest.approx([w.t_ms for w in plain.words], abs=1)
    _, last = speak(laugh_at(TEXT, None))
    assert last.duration_ms - plain.duration_ms == pytest.approx(shift, abs=1)
    assert last.words == plain.words  # after the last word: nothing moves
    assert last.gestures[0].t_ms == pytest.approx(plain.t_ms + plain.duration_ms, abs=1)


def test_a_laugh_with_nothing_to_say_is_still_heard() -> None:
    """A reply that is only "*laughs*": a piece of its own, the laugh its audio; a nod alone stays silent."""
    laugh = synthesize("laugh", RATE, 0.5, FALLBACK_F0, np.random.default_rng(0))
    face, said = speak(Sentence(0, "", (), (Gesture("laugh", 0, 0.5, "stage"),)))
    silence = PAUSE + 0.05  # what KnownVoice says for no words
    assert said.duration_ms == round(1000 * (silence + laugh.duration)) and not said.words
    assert [g.t_ms for g in said.gestures] == [pytest.approx(said.t_ms + 1000 * silence, abs=1)]
    assert face.keys and "aa" in face.keys[0][1].visemes
    face, sent = MouthFace(), []

    async def nod() -> None:
        async def send(message: SpeechMessage, audio: bytes) -> None:
            sent.append(message)

        speaker = Speaker(1, KnownVoice(), face, T_START, send)  # type: ignore[arg-type]
        speaker.say(Sentence(0, "", (), (Gesture("nod", 0, 1.0, "tag"),)))
        await speaker.finish()

    asyncio.run(nod())
    assert not sent and face.gestures == [("nod", NOW)]


def test_a_sigh_before_a_piper_sentence_is_unvoiced_breath_in_front_of_it() -> None:
    import pyworld

    from server.voice.piper import PiperVoice

    speech = PiperVoice(noise_scale=0.0).synthesize("Fine, I will do it.")
    for intensity in (0.0, 1.0):
        sighed, ((_, start),) = mix(speech, [Sound("sigh", 0, intensity)], "piper")
        lead = sighed.duration - speech.duration
        assert start == 0.0 and 0.6 - 1e-6 <= lead <= 1.2 + 1e-6
        n = len(sighed.audio) - len(speech.audio)
        assert np.array_equal(sighed.audio[n:], speech.audio)  # the speech itself untouched
        assert [w[1] for w in sighed.words] == pytest.approx([w[1] + lead for w in speech.words])
        assert sighed.phonemes[0][1] == 0 and sighed.phonemes[-1][2] == pytest.approx(sighed.duration)
        breath = np.ascontiguousarray(sighed.audio[:n], np.float64)
        assert median_f0(breath, speech.sample_rate) is None  # no period in it
        f0, times = pyworld.dio(breath, speech.sample_rate, f0_floor=60.0, f0_ceil=600.0)
        loud = np.abs(breath[np.minimum((times * speech.sample_rate).astype(int), n - 1)]) > 0.01
        assert np.mean(f0[loud] > 0) < 0.25  # WORLD's DIO, which Mien did not write, agrees
        # Quieter than the speech: an intensity-1 sound peaks at LEVEL x the speech's peak.
        assert np.abs(breath).max() <= LEVEL * np.abs(speech.audio).max() * 1.01


def test_a_laugh_between_two_piper_words_goes_into_the_pause_before_the_second() -> None:
    from server.voice.piper import PiperVoice

    speech = PiperVoice(noise_scale=0.0).synthesize("Well, that is very funny indeed.")
    at = speech.text.index("very")
    mixed, ((_, start),) = mix(speech, [Sound("laugh", at, 1.0)], "piper")
    length = mixed.duration - speech.duration
    before, after = [w for w in speech.words if w[3] < at], [w for w in speech.words if w[3] >= at]
    assert before[-1][2] <= start <= after[0][1]  # between "is" and "very", not into either
    shifted = [(w, a + length, b + length, o) for w, a, b, o in after]
    assert [w[3] for w in mixed.words] == [w[3] for w in speech.words]
    assert np.allclose([w[1:3] for w in mixed.words], [w[1:3] for w in [*before, *shifted]], atol=1e-9)
    n, k = round(start * speech.sample_rate), round(length * speech.sample_rate)
    fade = round(0.005 * speech.sample_rate)
    assert np.array_equal(mixed.audio[: n - fade], speech.audio[: n - fade])
    assert np.array_equal(mixed.audio[n + k + fade :], speech.audio[n + fade :])
    tiles = all(p[2] == pytest.approx(q[1]) for p, q in zip(mixed.phonemes, mixed.phonemes[1:], strict=False))
    assert tiles and mixed.phonemes[-1][2] == pytest.approx(mixed.duration)
    keys = mixed.visemes()
    opens = [
        t for t, v in zip(keys.times, keys.visemes, strict=True) if v == "aa" and start <= t < start + length
    ]
    assert len(opens) == 5  # a bare [laugh]: intensity 1, five notes, the mouth open for each


def test_the_laugh_follows_the_voices_pitch_and_loudness() -> None:
    voice = ToneVoice()
    speech = voice.synthesize(TEXT)
    assert median_f0(speech.audio, RATE) == pytest.approx(ToneVoice.F0, rel=0.02)
    mixed, ((_, start),) = mix(speech, [Sound("laugh", TEXT.index("very"), 1.0)], voice.name)
    length = len(mixed.audio) - len(speech.audio)
    a = round(start * RATE)
    laugh = mixed.audio[a : a + length]
    assert np.abs(laugh).max() == pytest.approx(LEVEL * ToneVoice.PEAK, rel=0.01)
    # breath.toml: the notes at 1.5 to 1.2 x the voice's median F0.
    assert 1.15 * ToneVoice.F0 <= (median_f0(laugh, RATE) or 0) <= 1.55 * ToneVoice.F0
    again, _ = mix(speech, [Sound("laugh", TEXT.index("very"), 1.0)], voice.name)
    other, _ = mix(speech, [Sound("laugh", TEXT.index("funny"), 1.0)], voice.name)
    assert np.array_equal(again.audio, mixed.audio)  # the same voice, text and place: the same laugh
    assert not np.array_equal(other.audio[-length:], mixed.audio[a : a + length])


@pytest.mark.parametrize("f0", [85.0, 150.0, 240.0])
def test_the_pitch_estimate_finds_a_missing_fundamental_and_none_in_noise(f0: float) -> None:
    t = np.arange(RATE) / RATE
    vibrato = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(vibrato) / RATE
    tone = sum(np.sin(h * phase) / h for h in range(2, 10))
    assert median_f0(tone, RATE) == pytest.approx(f0, rel=0.03)
    noise = np.random.default_rng(1).standard_normal(RATE)
    assert median_f0(noise, RATE) is None and median_f0(np.zeros(RATE), RATE) is None


def test_only_asked_for_sounds_and_only_offline_voices_make_them() -> None:
    sentence = laugh_at(TEXT, "funny")
    assert wanted(sentence, "piper") == (Sound("laugh", TEXT.index("funny"), 1.0),)
    assert wanted(sentence, "litellm:openai/tts-1:alloy") == ()  # a cloud voice: the face only
    inferred = Sentence(0, TEXT, (), (Gesture("laugh", 0, 1.0, "inferred"), Gesture("nod", 0, 1.0, "tag")))
    assert wanted(inferred, "piper") == ()
    cloud = KnownVoice()
    cloud.name = "litellm:openai/tts-1:alloy"  # type: ignore[misc]
    _, plain = speak(Sentence(0, TEXT))
    _, said = speak(sentence, cloud)
    assert said.duration_ms == plain.duration_ms and said.words == plain.words


def test_a_kept_sentence_with_a_laugh_is_not_reused_without_one() -> None:
    cache = spoken_cache(10_000_000)
    _, laughing = speak(laugh_at(TEXT, "funny"), cache=cache)
    _, plain = speak(Sentence(0, TEXT), cache=cache)
    _, again = speak(laugh_at(TEXT, "funny"), cache=cache)
    assert (cache.misses, cache.hits, len(cache)) == (2, 1, 2)
    assert plain.duration_ms < laughing.duration_ms == again.duration_ms


def test_a_spoken_laugh_is_heard_through_the_server(mien: LiveServer) -> None:
    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "set_voice", "enabled": True})
            durations = []
            for line in ("That is funny.", "[laugh] That is funny."):
                await c.send({"type": "speak", "text": line})
                end = await c.next_message("reply_end", after=len(c.messages))
                assert end["status"] == "complete" and end["text"] == "That is funny."
                (speech,) = c.of_type("speech", end["reply_id"])
                durations.append(speech["duration_ms"])
            assert durations[1] - durations[0] >= 400
            (laugh,) = [g for g in speech["gestures"] if g["gesture"] == "laugh"]
            assert laugh["source"] == "tag" and laugh["t_ms"] == speech["t_ms"]  # the sound leads
            assert speech["words"][0]["t_ms"] - speech["t_ms"] >= 400  # the words after it

    asyncio.run(main())
