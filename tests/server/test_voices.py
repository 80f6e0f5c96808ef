"""Voice specs (server/voice/specs.py): the grammar, its errors; the registry of loaded voices (the one
place a voice is chosen), Piper variants."""

from __future__ import annotations

import numpy as np
import pytest

from server.settings import Settings
from server.voice import Speech, Voices
from server.voice.piper import PiperVoice
from server.voice.specs import AUTO, VoiceSpec, parse_voice


@pytest.mark.parametrize(
    ("text", "canonical", "spec"),
    [
        ("auto", "piper", AUTO),
        ("default", "default", VoiceSpec("default")),
        (" Piper ", "piper", VoiceSpec("piper")),
        ("piper:rate=1.1", "piper:rate=1.1", VoiceSpec("piper", rate=1.1)),
        ("piper:pitch=0.9:rate=0.95", "piper:rate=0.95:pitch=0.9", VoiceSpec("piper", rate=0.95, pitch=0.9)),
        ("espeak", "espeak", VoiceSpec("espeak")),
        ("espeak:en-us+f3:rate=1.2", "espeak:en-us+f3:rate=1.2", VoiceSpec("espeak", "en-us+f3", rate=1.2)),
        (
            "litellm:openai/tts-1:alloy",
            "litellm:openai/tts-1:alloy",
            VoiceSpec("litellm", "alloy", "openai/tts-1"),
        ),
        (  # the voice is the last positional: a model may contain ':'
            "litellm:ollama/tts:1b:nova:format=mp3:rate=1.5",
            "litellm:ollama/tts:1b:nova:rate=1.5:format=mp3",
            VoiceSpec("litellm", "nova", "ollama/tts:1b", rate=1.5, format="mp3"),
        ),
    ],
)
def test_specs_parse_to_a_canonical_form(text: str, canonical: str, spec: VoiceSpec) -> None:
    parsed = parse_voice(text)
    assert parsed == spec and str(parsed) == canonical and parse_voice(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "unknown voice engine"),
        ("festival", "unknown voice engine 'festival'"),
        ("piper:joe", "piper has one voice"),
        ("piper:speed=2", "piper has no option 'speed'; options: rate, pitch"),
        ("piper:rate=fast", "rate='fast' is not a number"),
        ("piper:rate=3", "rate=3 must be between 0.5 and 2"),
        ("piper:rate=nan", "must be between"),
        ("piper:rate=1:rate=2", "rate given twice"),
        ("espeak:en us", "not an espeak-ng voice name"),
        ("espeak:en-us:en", "one voice name"),
        ("espeak:pitch=2", "espeak has no option 'pitch'"),
        ("litellm:openai/tts-1", "litellm:MODEL:VOICE"),
        ("litellm:tts-1:alloy:format=aac", "format 'aac': expected one of wav, flac, mp3, opus"),
        ("default:x", "takes no arguments"),
    ],
)
def test_bad_specs_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_voice(text)
    assert reason in str(e.value)


def test_default_means_the_servers_setting() -> None:
    assert Voices(Settings().voice).resolve("default") == AUTO
    cloud = Voices(Settings(voice="litellm:tts-1:nova").voice)
    assert str(cloud.resolve("default")) == "litellm:tts-1:nova"
    assert cloud.resolve("espeak") == VoiceSpec("espeak")  # a persona's own voice wins


def test_voices_are_loaded_once_per_spec_and_piper_variants_share_the_model() -> None:
    voices, other_server = Voices(), Voices()
    plain = voices.get("auto")
    assert voices.get("piper") is plain and other_server.get("default") is plain  # auto is plain piper
    quick = voices.get(parse_voice("piper:rate=1.5"))
    assert voices.get("piper:rate=1.5") is quick and quick is not plain
    assert isinstance(plain, PiperVoice) and isinstance(quick, PiperVoice)
    assert quick._voice is plain._voice and quick.name == "piper:rate=1.5"
    espeak = voices.get("espeak:en-us+f3")
    assert espeak.name == "espeak:en-us+f3" and espeak is not voices.get("espeak")


def _f0(speech: Speech) -> float:
    """Median pitch (Hz) of the clearly voiced 93 ms frames, by autocorrelation."""
    sr, n = speech.sample_rate, 2048
    found = []
    for i in range(0, len(speech.audio) - n, n // 4):
        x = speech.audio[i : i + n].astype(np.float64)
        x -= x.mean()
        if np.sqrt((x * x).mean()) < 0.05:
            continue
        ac = np.correlate(x, x, "full")[n - 1 :]
        lo, hi = sr // 300, sr // 60
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[k] > 0.5 * ac[0]:
            found.append(sr / k)
    return float(np.median(found))


def test_piper_rate_and_pitch_change_the_voice_and_keep_its_timings() -> None:
    base = PiperVoice(noise_scale=0.0)
    text = "Hello there, my friend. Shall we look at the big blue boat?"
    plain = base.synthesize(text)
    slow = base.variant(rate=0.7).synthesize(text)
    high = base.variant(pitch=1.25).synthesize(text)
    assert slow.duration > plain.duration * 1.2
    assert _f0(high) > _f0(plain) * 1.12  # Piper's own prosody moves a little with length_scale
    for s in (slow, high):  # phonemes still tile the (resampled) audio; words still inside it
        assert s.phonemes[0][1] == 0.0 and s.phonemes[-1][2] == pytest.approx(s.duration, abs=0.02)
        assert [w for w, *_ in s.words] == [w for w, *_ in plain.words]
        assert all(0.0 <= a <= b <= s.duration + 1e-6 for _, a, b, _ in s.words)
    assert np.abs(high.audio).max() <= 1.0
