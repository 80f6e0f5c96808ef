"""Hearing: voice activity, turns and recognition on real recorded speech (tests/server/data/speech)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.hearing import edits
from server.hearing import asr, endpoint
from server.hearing.ear import Ear, hear_file, read_audio, resample
from server.hearing.loudness import Loudness
from server.hearing.turns import (
    Discarded,
    Guess,
    Judge,
    Paused,
    SpeechStarted,
    TurnEnded,
    TurnRules,
    Turns,
)
from server.hearing.vad import CHUNK, SAMPLE_RATE, Listener

SPEECH = Path(__file__).parent / "data" / "speech"
TEXTS = dict(line.split("\t") for line in (SPEECH / "transcripts.tsv").read_text().splitlines()[1:])


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edits, reference words): the bench's word-level Levenshtein."""
    ref = words(reference)
    return edits(ref, words(hypothesis)), len(ref)


def test_the_speech_model_is_the_pinned_one() -> None:
    _package, _getter, sha = asr.MODELS["tiny.en"]
    digest = hashlib.sha256((asr.model_dir("tiny.en") / "model.bin").read_bytes()).hexdigest()
    assert digest == sha


def test_an_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(asr.AsrUnavailable, match="unknown speech model"):
        asr.model_dir("whisper-huge-from-the-internet")


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=12))
def test_voice_activity_is_the_same_however_the_audio_is_cut(cuts: list[int]) -> None:
    audio = read_audio(SPEECH / "tt-weasels.flac")[: 16 * CHUNK]
    whole = Listener().feed(audio)[1]
    pieces, listener, at = [], Listener(), 0
    for n in [*cuts, len(audio)]:
        pieces.append(listener.feed(audio[at : at + n])[1])
        at += n
    assert np.allclose(np.concatenate(pieces), whole, atol=1e-5)


def test_speech_is_voiced_and_silence_is_not() -> None:
    speech = read_audio(SPEECH / "demo-echodone.flac")
    probs = Listener().feed(np.concatenate([np.zeros(SAMPLE_RATE, np.float32), speech]))[1]
    per_second = SAMPLE_RATE // CHUNK
    assert probs[:per_second].max() < 0.1  # a second of silence first
    assert np.mean(probs[per_second:] > 0.5) > 0.5


def chunks_of(probs: list[float]) -> tuple[np.ndarray, np.ndarray]:
    audio = np.repeat(np.arange(len(probs), dtype=np.float32)[:, None], CHUNK, axis=1)  # chunk i holds i
    return audio, np.array(probs, np.float32)


def ms(n: int) -> int:
    return round(n * 1000 * CHUNK / SAMPLE_RATE)


def test_turn_rules_known_answers() -> None:
    rules = TurnRules()
    turns = Turns(rules)
    # 20 quiet chunks, a one-chunk click, 10 voiced, 10 quiet (a 320 ms pause), 10 voiced, 30 quiet.
    probs = [0.0] * 20 + [0.9] + [0.0] * 5 + [0.9] * 10 + [0.1] * 10 + [0.8] * 10 + [0.0] * 30
    events = turns.feed(*chunks_of(probs))
    kinds = [type(e) for e in events]
    # The click started nothing; each pause is a guess (the final transcript may start) before a nod.
    assert kinds == [SpeechStarted, Guess, Paused, Guess, Paused, TurnEnded]
    start, guess, pause, last_guess, last_pause, end = events
    assert last_pause.sample == 56 * CHUNK
    assert start.sample == 26 * CHUNK  # the first chunk of the onset
    assert pause.sample == 36 * CHUNK and ms(10) >= rules.pause_ms  # where the silence began
    assert isinstance(end, TurnEnded) and end.reason == "silence" and end.speech_end == 56 * CHUNK
    preroll = rules.chunks(rules.preroll_ms)
    assert end.start == (26 - preroll) * CHUNK
    assert end.audio[0] == 26 - preroll and end.audio[-1] == 55  # pre-roll in, the trailing silence out
    assert ms(rules.chunks(rules.guess_ms)) < rules.judge_ms  # a guess starts before the judge is asked
    assert (guess.start, guess.speech_end) == (end.start, 36 * CHUNK)  # up to the first pause: stale
    assert guess.audio[-1] == 35 and len(guess.audio) == guess.speech_end - guess.start
    assert (last_guess.start, last_guess.speech_end) == (end.start, end.speech_end)  # the turn's end
    assert np.array_equal(last_guess.audio, end.audio)  # so its transcript is the final one


def test_a_judge_that_hears_an_unfinished_thought_holds_the_turn() -> None:
    asked: list[int] = []

    def mid_thought(audio: np.ndarray) -> float:
        asked.append(len(audio))
        return 0.1

    rules = TurnRules()
    probs = [0.9] * 10 + [0.0] * (rules.chunks(rules.hold_ms) + 5)
    held = Turns(rules, judge=mid_thought).feed(*chunks_of(probs))
    assert [type(e) for e in held] == [SpeechStarted, Guess, Paused, TurnEnded]
    ask, end = rules.chunks(rules.judge_ms), rules.chunks(rules.end_ms)
    assert held[-1].reason == "hold" and ask < end  # asked at judge_ms and at end_ms of silence, not more
    assert asked == [10 * CHUNK, 10 * CHUNK]  # each time the turn's audio up to its last voiced chunk
    finished = Turns(rules, judge=lambda audio: 0.9).feed(*chunks_of(probs))
    assert finished[-1].reason == "judged"


def test_a_cough_is_not_a_turn_and_a_long_turn_is_cut() -> None:
    events = Turns().feed(*chunks_of([0.9] * 3 + [0.0] * 40))
    assert [type(e) for e in events] == [SpeechStarted, Discarded]
    rules = TurnRules(max_s=1.0)
    long = Turns(rules).feed(*chunks_of([0.9] * 60))
    assert [type(e) for e in long] == [
        SpeechStarted,
        TurnEnded,
        SpeechStarted,
    ]  # the talk goes on: a new turn
    assert long[1].reason == "max" and len(long[1].audio) == rules.chunks(1000) * CHUNK


def onset(audio: np.ndarray) -> int:
    """The first sample louder than -40 dBFS: where the speech truly begins, whatever the detector says."""
    return int(np.argmax(np.abs(audio) > 0.01))


@pytest.mark.parametrize("name", ["auth-thankyou.flac", "tt-weasels.flac", "followme-sorry.flac"])
def test_no_first_syllable_is_lost(name: str) -> None:
    speech = read_audio(SPEECH / name)
    lead = SAMPLE_RATE  # a second of room noise before
    rng = np.random.default_rng(1)
    audio = np.concatenate([rng.normal(0, 0.001, lead), speech, np.zeros(SAMPLE_RATE)]).astype(np.float32)
    ear = Ear()
    events = [e for i in range(0, len(audio), 320) for e in ear.feed(audio[i : i + 320])]
    (turn,) = [e for e in events if isinstance(e, TurnEnded)]
    truth = lead + onset(speech)
    assert turn.start <= truth - 0.4 * SAMPLE_RATE  # at least 400 ms of audio before the true onset


def test_real_speech_is_transcribed() -> None:
    edits = total = 0
    for name, text in TEXTS.items():
        heard = asr.transcribe(read_audio(SPEECH / name))
        e, n = wer(text, heard.text)
        edits, total = edits + e, total + n
    assert edits / total <= 0.08  # the target for the default model on real recordings


def test_whispers_inventions_on_noise_are_dropped_and_a_real_thank_you_is_kept() -> None:
    rng = np.random.default_rng(7)
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    for audio in (
        np.zeros(3 * SAMPLE_RATE, np.float32),
        rng.normal(0, 0.05, 3 * SAMPLE_RATE).astype(np.float32),
        (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
    ):
        heard = asr.transcribe(audio)
        assert heard.text == "" and heard.dropped  # and why is reported
    kept = asr.transcribe(read_audio(SPEECH / "auth-thankyou.flac"))
    assert words(kept.text) == ["thank", "you"]


def test_a_recording_gives_its_turns_with_times(tmp_path: Path) -> None:
    first, second = read_audio(SPEECH / "tt-weasels.flac"), read_audio(SPEECH / "auth-thankyou.flac")
    gap = np.zeros(SAMPLE_RATE, np.float32)
    path = tmp_path / "two.wav"
    soundfile.write(path, np.concatenate([gap, first, gap, second, gap]), 48_000 // 3)  # 16 kHz WAV
    heard = hear_file(path)
    assert [words(h.transcript.text) for h in heard] == [words(TEXTS["tt-weasels.flac"]), ["thank", "you"]]
    second_at = (2 * len(gap) + len(first) + onset(second)) / SAMPLE_RATE
    first_at = 1.0 + onset(first) / SAMPLE_RATE
    assert heard[0].offset < first_at < heard[0].end < second_at < heard[1].end  # the audio has each onset
    assert abs(heard[0].start - first_at) < 0.15 and abs(heard[1].start - second_at) < 0.15


def test_any_rate_is_resampled_to_16k() -> None:
    t = np.arange(44_100) / 44_100
    out = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), 44_100)
    assert abs(len(out) - SAMPLE_RATE) <= 64
    spectrum = np.abs(np.fft.rfft(out[1000:15000]))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / 14000
    assert abs(peak_hz - 1000) < 5


def test_mien_transcribe(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "server.cli", "transcribe", str(SPEECH / "tt-monkeysintro.flac"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (turn,) = json.loads(run.stdout)["turns"]
    assert words(turn["text"]) == words(TEXTS["tt-monkeysintro.flac"])
    assert turn["words"] and all(turn["start"] - 0.6 <= w["start"] <= w["end"] for w in turn["words"])
    bad = tmp_path / "not-audio.wav"
    bad.write_text("hello")
    refused = subprocess.run(
        [sys.executable, "-m", "server.cli", "transcribe", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "cannot read" in refused.stderr


def test_the_end_of_turn_model_is_the_pinned_one_and_reads_features_as_it_was_trained() -> None:
    assert hashlib.sha256(endpoint.model_path().read_bytes()).hexdigest() == endpoint.SHA256
    from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features

    audio = read_audio(SPEECH / "dir-nomatch.flac")
    window = np.pad(audio, (endpoint.WINDOW_S * SAMPLE_RATE - len(audio), 0))
    expected = compute_whisper_log_mel_features(window, do_normalize=True)
    assert np.abs(endpoint.features(audio) - expected).max() < 1e-4


def test_the_end_of_turn_model_hears_finished_and_unfinished_sentences() -> None:
    for name in TEXTS:
        assert endpoint.finished(read_audio(SPEECH / name)) > 0.5, name
    for name in ("followme-sorry.flac", "tt-weasels.flac", "vm-msgforwarded.flac"):
        audio = read_audio(SPEECH / name)
        assert endpoint.finished(audio[: len(audio) // 2]) < 0.5, name  # cut off mid-sentence


def test_a_thinking_pause_does_not_end_the_turn() -> None:
    """'I'm sorry, but I was unable ... [1.2 s] ... to locate the person you are calling': silence alone
    cuts it in two; the end-of-turn model waits for the rest."""
    speech = read_audio(SPEECH / "followme-sorry.flac")
    level = np.convolve(np.abs(speech), np.ones(800) / 800, "same")
    middle = len(speech) // 2
    cut = middle - 4000 + int(np.argmin(level[middle - 4000 : middle + 4000]))  # between two words
    audio = np.concatenate(
        [np.zeros(8000), speech[:cut], np.zeros(int(1.2 * SAMPLE_RATE)), speech[cut:], np.zeros(SAMPLE_RATE)]
    ).astype(np.float32)

    def ended(judge: Judge | None) -> list[TurnEnded]:
        ear = Ear(judge=judge)
        events = [e for i in range(0, len(audio), 320) for e in ear.feed(audio[i : i + 320])]
        return [e for e in events if isinstance(e, TurnEnded)]

    assert len(ended(None)) == 2
    (whole,) = ended(endpoint.finished)
    assert whole.reason == "judged"
    heard = words(asr.transcribe(whole.audio).text)
    assert heard[:2] == ["i'm", "sorry"] and heard[-1] == "calling"  # both halves in the one turn
    assert wer(TEXTS["followme-sorry.flac"], " ".join(heard))[0] <= 2


def test_loudness_is_relative_to_the_users_own_level() -> None:
    """What the listening face follows: a quiet speaker and a loud one (20 dB apart) give the same
    emphasis and pauses; nothing while the user is not speaking."""
    voice = read_audio(SPEECH / "tt-weasels.flac")
    speech = np.concatenate([voice[onset(voice) :], np.zeros(SAMPLE_RATE // 2, np.float32)])

    def levels(gain: float) -> np.ndarray:
        loudness = Loudness()
        return np.array([loudness.feed(gain * speech[i : i + 320], True) for i in range(0, len(speech), 320)])

    loud, quiet = levels(1.0), levels(0.1)
    assert np.abs(loud - quiet).max() < 1e-3
    assert loud.max() > 0.5 and loud[-1] == -1.0  # emphasis above the user's own level; the pause after
    assert np.mean(np.abs(loud[: len(loud) * 3 // 4]) < 0.5) > 0.3  # mostly near their level while talking
    assert Loudness().feed(speech, speaking=False) is None
