"""Gestures timed by the voice (issue 16): the speaker puts each gesture of a sentence on the face at the
audio time of the word it precedes, by the cues' rule, and says when in its `speech` message. Checked on
the animation clock of a face that records what it is asked (a voice whose word times are known), never
on the wall clock."""

from __future__ import annotations

import asyncio

import numpy as np

from animation.phonemes import Visemes
from server.events import Cue, Gesture, Sentence
from server.protocol import SpeechMessage
from server.voice.pieces import split
from server.voice.prosody import NEUTRAL, Prosody
from server.voice.speaker import LEAD, Speaker
from server.voice.speech import Speech, tokens

RATE = 16_000
WORD = 0.25  # s per word: word k of a sentence starts at PAUSE + k * WORD
PAUSE = 0.1  # s of silence before the first word
STRESS = 0.07  # s from a stressed word's start to its stressed vowel
NOW = 10.0  # the face's animation time while the reply is spoken
T_START = 4.0  # the session's clock origin (t_ms counts from it)


class KnownVoice:
    """Every word WORD long after a PAUSE: the audio time of each word is known in advance. It stresses
    no word (so makes no beats) unless told which: `stressed` words, their vowel STRESS into the word."""

    name, sample_rate = "known", RATE

    def __init__(self, stressed: frozenset[str] = frozenset()) -> None:
        self.stressed = stressed

    def synthesize(self, text: str, prosody: Prosody = NEUTRAL) -> Speech:
        words = [(w, PAUSE + k * WORD, PAUSE + (k + 1) * WORD, at) for k, (w, at) in enumerate(tokens(text))]
        duration = PAUSE + len(words) * WORD + 0.05
        keys = Visemes(np.array([0.0, duration - 0.01]), ["aa", "sil"], np.ones(2, np.float32))
        stresses = [(at, a + STRESS) for w, a, _b, at in words if w in self.stressed]
        audio = np.zeros(round(duration * RATE), np.float32)
        return Speech(text, audio, RATE, [], words, keys, stresses)

    def stream(self, text: str, prosody: Prosody = NEUTRAL):  # type: ignore[no-untyped-def]
        yield self.synthesize(text, prosody)


class RecordingFace:
    def __init__(self) -> None:
        self.gestures: list[tuple[str, float]] = []
        self.cues: list[tuple[str, float | None]] = []

    def now(self) -> float:
        return NOW

    def cue(self, cue: Cue, at: float | None = None) -> None:
        self.cues.append((cue.emotion, at))

    def gesture(self, gesture: Gesture, at: float | None = None) -> None:
        assert at is not None  # the voice always says when
        self.gestures.append((gesture.gesture, at))

    def visemes(self, *a: object) -> None: ...
    def clear_speech(self) -> None: ...


def speak(*sentences: Sentence, voice: KnownVoice | None = None) -> tuple[RecordingFace, list[SpeechMessage]]:
    face = RecordingFace()
    sent: list[SpeechMessage] = []

    async def main() -> None:
        async def send(message: SpeechMessage, audio: bytes) -> None:
            sent.append(message)

        speaker = Speaker(1, voice or KnownVoice(), face, T_START, send)  # type: ignore[arg-type]
        for s in sentences:
            speaker.say(s)
        await speaker.finish()

    asyncio.run(main())
    return face, sent


def word_time(text: str, word: str) -> float:
    """Audio time (from the sentence's start) of `word` in KnownVoice's speech."""
    k = [w for w, _ in tokens(text)].index(word)
    return PAUSE + k * WORD


def ms(t: float) -> int:
    return round((t - T_START) * 1000)


def test_a_gesture_reaches_the_face_at_its_words_audio_time() -> None:
    first = "I see what you mean. "
    second = "Well no, that is not right."
    start = len(first)
    shake = Gesture("shake", start + second.index("no"), 1.0, "tag")
    tilt = Gesture("tilt", start + len(second), 1.0, "tag")  # after the last word: as its audio ends
    face, sent = speak(
        Sentence(0, first, (), (Gesture("nod", 2, 0.3, "inferred"),)),
        Sentence(start, second, (Cue("sadness", 0.5, start + second.index("that")),), (shake, tilt)),
    )
    t0 = NOW + LEAD  # the first sentence starts as soon as it can
    d0 = sent[0].duration_ms / 1000
    t1 = t0 + d0  # the second right after it
    expected = [
        ("nod", t0 + word_time(first, "see")),
        ("shake", t1 + word_time(second, "no")),
        ("tilt", t1 + sent[1].duration_ms / 1000),
    ]
    assert [g for g, _ in face.gestures] == [g for g, _ in expected]
    for (_, got), (_, want) in zip(face.gestures, expected, strict=True):
        assert abs(got - want) < 2e-3  # the pieces' durations are whole milliseconds on the wire
    # The speech message says the same, on the frames' clock, next to the word it falls on.
    assert [(g.gesture, g.offset, g.source) for g in sent[1].gestures] == [
        ("shake", shake.offset, "tag"),
        ("tilt", tilt.offset, "tag"),
    ]
    word_ms = {w.offset: w.t_ms for w in sent[1].words}
    assert sent[1].gestures[0].t_ms == word_ms[shake.offset] == ms(expected[1][1])
    assert sent[1].gestures[1].t_ms == sent[1].t_ms + sent[1].duration_ms
    assert [(g.gesture, g.t_ms) for g in sent[0].gestures] == [("nod", word_ms_of(sent[0], 2))]
    # ...by the same rule as the sentence's cue.
    assert face.cues == [("sadness", t1 + word_time(second, "that"))]


def word_ms_of(message: SpeechMessage, offset: int) -> int:
    return next(w.t_ms for w in message.words if w.offset >= offset)


def test_a_gesture_after_the_last_word_is_made_as_the_voice_ends() -> None:
    """A trailing tag with nothing left to say ("Yes." then [nod]) waits for what is queued before it."""
    text = "Yes, I think so."
    face, sent = speak(
        Sentence(0, text),
        Sentence(len(text), "", (), (Gesture("nod", len(text)),)),
    )
    assert face.gestures == [("nod", NOW + LEAD + sent[0].duration_ms / 1000)]
    assert sent[0].gestures == []  # in no speech message: the voice's end says when


def test_a_sentence_cut_in_pieces_keeps_each_gesture_on_its_word() -> None:
    text = "It was a long and winding road, but we got there in the end, all of us together."
    nod, wink = Gesture("nod", text.index("road")), Gesture("wink", text.index("together"))
    head, tail = split(Sentence(0, text, (), (nod, wink)), text.index("but"))
    assert (head.gestures, tail.gestures) == ((nod,), (wink,))
    face, sent = speak(head, tail)
    assert [[g.gesture for g in m.gestures] for m in sent] == [["nod"], ["wink"]]
    assert sent[0].gestures[0].t_ms == word_ms_of(sent[0], nod.offset)
    assert sent[1].gestures[0].t_ms == word_ms_of(sent[1], wink.offset)
    assert [t for _, t in face.gestures] == [
        NOW + LEAD + word_time(head.text, "road"),
        NOW + LEAD + sent[0].duration_ms / 1000 + word_time(tail.text, "together"),
    ]
