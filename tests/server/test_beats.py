"""Beats on stressed words (issue 16), timed to the audio: known answers of the rules (server/voice/beats.py,
data/beats.toml) on a voice whose word and stress times are known, and on Piper's own stresses; what the
speaker puts on the face and in its `speech` messages. Times on the audio's and the animation's clocks."""

from __future__ import annotations

import asyncio

import pytest

from server.events import Gesture, Sentence
from server.reply.sentences import reply_events
from server.voice import beats
from server.voice.piper import PiperVoice
from server.voice.speaker import LEAD as SPEAKER_LEAD
from server.voice.speech import tokens
from tests.server.test_gesture_timing import NOW, PAUSE, STRESS, WORD, KnownVoice, speak


def beat_words(text: str, found: list[beats.Beat]) -> list[str]:
    words = dict((at, w) for w, at in tokens(text))
    return [words[b.offset] for b in found]


def known(text: str, stressed: str, **kw: object) -> list[beats.Beat]:
    """The beats of `text` spoken by KnownVoice stressing the words in `stressed`."""
    speech = KnownVoice(frozenset(stressed.split())).synthesize(text)
    return beats.place(text, speech.words, speech.stresses, **kw)  # type: ignore[arg-type]


def vowel_of(text: str, word: str) -> float:
    k = [w for w, _ in tokens(text)].index(word)
    return PAUSE + k * WORD + STRESS


def test_the_nuclear_accent_of_each_phrase_gets_a_beat_on_its_stressed_vowel() -> None:
    text = "I lost the keys, but Ann found them outside."
    found = known(text, "lost keys Ann found outside")
    assert beat_words(text, found) == ["keys", "outside"]  # the last stressed content word of each phrase
    assert [b.vowel for b in found] == pytest.approx([vowel_of(text, "keys"), vowel_of(text, "outside")])
    assert [b.intensity for b in found] == [beats.INTENSITY] * 2
    assert all(b.start == pytest.approx(b.vowel - beats.LEAD) for b in found)  # apex on the vowel


def test_a_long_phrase_gets_a_smaller_beat_on_its_first_accent_too() -> None:
    text = "The old man walked slowly down to the market for fish."
    found = known(text, "old man walked slowly market fish")
    assert beat_words(text, found) == ["old", "fish"]
    assert [b.intensity for b in found] == [beats.PRENUCLEAR, beats.INTENSITY]


def test_short_phrases_function_words_and_unstressed_words_get_none() -> None:
    assert known("Well, yes.", "Well yes") == []  # phrases under MIN_WORDS
    text = "I think it is."
    assert known(text, "I it is") == []  # stressed, but function words; "think" is not stressed


def test_never_on_code_nor_on_a_gestures_word_nor_while_a_gesture_moves() -> None:
    async def sentence(line: str) -> Sentence:
        events = [e async for e in reply_events(_chunks(line), classify=lambda _t: None)]
        return next(e for e in events if isinstance(e, Sentence))

    line = "Now please type `git push origin` here."
    s = asyncio.run(sentence(line))
    text = s.text
    assert s.code and text[s.code[0][0] : s.code[-1][1]].strip("`") == "git push origin"
    speech = KnownVoice(frozenset({"type", "git", "push", "origin"})).synthesize(text)
    code = [(a - s.start, b - s.start) for a, b in s.code]
    assert beat_words(text, beats.place(text, speech.words, speech.stresses)) == ["origin"]
    assert beat_words(text, beats.place(text, speech.words, speech.stresses, code=code)) == ["type"]

    text = "She sold her house and moved away."
    stressed = "sold house moved away"
    assert beat_words(text, known(text, stressed)) == ["away"]
    assert beat_words(text, known(text, stressed, taken={text.index("away")})) == ["moved"]
    t_moved = vowel_of(text, "moved")
    assert known(text, stressed, taken={text.index("away")}, busy=[(t_moved - 0.2, t_moved + 0.1)]) == []


def test_beats_keep_their_distance_and_a_piece_has_few(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "We met on Monday, we ran on Tuesday, we left on Wednesday, we slept on Thursday, we ate on Friday."
    )
    days = "Monday Tuesday Wednesday Thursday Friday"
    found = known(text, days)
    assert len(found) == beats.MAX_PER_PIECE
    assert beat_words(text, found) == ["Monday", "Tuesday", "Wednesday"]
    # The second phrase's first accent ("dogs") comes one word (0.25 s) after the first's nuclear one
    # ("rain"): too close, the nuclear accent keeps its beat.
    assert beats.MIN_GAP > WORD
    text = "We walked for miles in the rain, dogs barked at us from every single gate."
    found = known(text, "walked rain dogs barked gate")
    assert beat_words(text, found) == ["rain", "gate"]
    monkeypatch.setattr(beats, "MIN_GAP", 0.0)  # it is the gap that drops it
    assert beat_words(text, known(text, "walked rain dogs barked gate")) == ["rain", "dogs", "gate"]


def test_without_the_voices_stresses_content_words_beat_at_their_start() -> None:
    text = "I lost the keys, but Ann found them outside."
    speech = KnownVoice().synthesize(text)
    found = beats.place(text, speech.words, None)
    assert beat_words(text, found) == ["keys", "outside"]
    assert [b.vowel for b in found] == pytest.approx(
        [vowel_of(text, w) - STRESS for w in ("keys", "outside")]
    )


def test_the_speaker_puts_beats_on_the_face_and_in_its_speech_message() -> None:
    text = "She sold her house and moved away."
    shake = Gesture("shake", text.index("sold"), 0.3, "inferred")
    voice = KnownVoice(frozenset({"sold", "house", "moved", "away"}))
    face, sent = speak(Sentence(0, text, (), (shake,)), voice=voice)
    t0 = NOW + SPEAKER_LEAD
    # "away" is the nuclear accent; the shake (1.1 s from "sold") is over before its beat starts.
    assert face.gestures == [
        ("shake", pytest.approx(t0 + vowel_of(text, "sold") - STRESS)),
        ("beat", pytest.approx(t0 + vowel_of(text, "away") - beats.LEAD)),
    ]
    (message,) = sent
    assert [(g.gesture, g.offset, g.source) for g in message.gestures] == [
        ("shake", shake.offset, "inferred"),
        ("beat", text.index("away"), "beat"),
    ]
    away_ms = next(w.t_ms for w in message.words if w.offset == text.index("away"))
    # On the wire's millisecond clock: the beat's apex (start + attack) is on the stressed vowel.
    assert message.gestures[1].t_ms + round(beats.LEAD * 1000) == pytest.approx(
        away_ms + STRESS * 1000, abs=2
    )


@pytest.fixture(scope="module")
def piper() -> PiperVoice:
    return PiperVoice(noise_scale=0.0)


def test_piper_stresses_give_beats_on_the_accented_vowels(piper: PiperVoice) -> None:
    """espeak-ng's stress in context through Piper's alignment: in "... old song, but the record is broken"
    the phrases' last stressed content words are "song" and "broken"; each beat's apex is on the start of
    that word's stressed vowel as the phoneme timings give it (ɔ of song, o of broken)."""
    text = "I really love this beautiful old song, but the record is broken."
    speech = piper.synthesize(text)
    stressed = {text[at : at + 4] for at, _t in speech.stresses or ()}
    assert {"real", "love", "song", "brok"} <= stressed and not {"the ", "is b"} & stressed
    found = beats.place(text, speech.words, speech.stresses)
    assert beat_words(text, found) == ["song", "broken"]
    for beat, vowel in zip(found, ("ɔ", "o"), strict=True):
        _w, start, end, _at = next(w for w in speech.words if w[3] == beat.offset)
        onset = next(a for p, a, _b in speech.phonemes if start <= a < end and p == vowel)
        assert beat.vowel == pytest.approx(onset, abs=1e-6)


async def _chunks(line: str):  # type: ignore[no-untyped-def]
    yield line
