"""Gesture tags in the emotion grammar: names, aliases, stage directions, offsets, and unknown words."""

from __future__ import annotations

import asyncio

from animation.gestures import GESTURES
from server.events import Gesture
from server.reply.sentences import reply_events
from server.reply.tags import Cue, Event
from tests.server.test_tags import parse, text_of


def gestures_of(events: list[Event]) -> list[tuple[str, int, float, str]]:
    return [(e.gesture, e.offset, e.intensity, e.source) for e in events if isinstance(e, Gesture)]


def test_every_gesture_the_issue_asks_for_is_a_tag() -> None:
    wanted = {"nod", "shake", "tilt", "wink", "eyeroll", "shrug", "sigh", "laugh"}
    assert wanted <= set(GESTURES)
    for name in wanted:
        events = parse([f"[{name}] Well then."])
        assert text_of(events) == "Well then."
        assert gestures_of(events) == [(name, 0, 1.0, "tag")]


def test_offsets_are_the_next_words_like_cues() -> None:
    events = parse(["Yes, [nod] exactly. And [joy] [wink] you know it [shake:0.5]!"])
    assert text_of(events) == "Yes, exactly. And you know it!"
    text = text_of(events)
    assert gestures_of(events) == [
        ("nod", text.index("exactly"), 1.0, "tag"),
        ("wink", text.index("you"), 1.0, "tag"),
        ("shake", len(text) - 1, 0.5, "tag"),  # before the closing "!", as a cue would be
    ]
    joy = next(e for e in events if isinstance(e, Cue))
    assert joy.offset == text.index("you")


def test_aliases_and_stage_directions() -> None:
    events = parse(["[nods] Sure. *shakes head* No way. (tilts head) Hm? *rolls eyes* Fine. [Shrugging] Ok."])
    assert text_of(events) == "Sure. No way. Hm? Fine. Ok."
    assert [g[0] for g in gestures_of(events)] == ["nod", "shake", "tilt", "eyeroll", "shrug"]
    assert [g[3] for g in gestures_of(events)] == ["tag", "stage", "stage", "stage", "tag"]


def test_a_word_that_is_an_emotion_and_a_gesture_gives_both() -> None:
    events = parse(["*laughs* That's funny. [sigh] Oh well."])
    assert text_of(events) == "That's funny. Oh well."
    assert [(e.emotion, e.offset) for e in events if isinstance(e, Cue)] == [("joy", 0), ("sadness", 14)]
    assert [g[:2] for g in gestures_of(events)] == [("laugh", 0), ("sigh", 14)]


def test_split_across_chunks_parses_like_the_whole() -> None:
    s = "Oh [nod] yes, *shakes head* no."
    whole = parse([s])
    for cut in range(1, len(s)):
        split = parse([s[:cut], s[cut:]])
        assert text_of(split) == text_of(whole) and gestures_of(split) == gestures_of(whole)


def test_unknown_gestures_are_dropped_not_spoken() -> None:
    # An unknown tag word is removed (as before); asides and short brackets stay text.
    events = parse(["[backflip] Hello [x] there (see above) *really* yes."])
    assert text_of(events) == "Hello [x] there (see above) *really* yes."
    assert gestures_of(events) == []


def test_gestures_pass_through_sentences_in_order() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield "[nod] Yes. "
        yield "I agree."

    async def collect() -> list[object]:
        return [e async for e in reply_events(chunks(), classify=lambda _t: None)]

    events = asyncio.run(collect())
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["Gesture", "Text"] and "Sentence" in kinds
