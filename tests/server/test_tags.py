"""TagParser: known answers, splits at every position, and any chunking equals the one-shot parse."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.reply.tags import Cue, Event, TagParser, Text


def parse(chunks: list[str]) -> list[Event]:
    parser = TagParser()
    events: list[Event] = []
    for chunk in chunks:
        events += parser.push(chunk)
    return events + parser.flush()


def text_of(events: list[Event]) -> str:
    return "".join(e.delta for e in events if isinstance(e, Text))


def cues_of(events: list[Event]) -> list[tuple[str, float, int]]:
    return [(e.emotion, e.intensity, e.offset) for e in events if isinstance(e, Cue)]


def sources_of(events: list[Event]) -> list[str]:
    return [e.source for e in events if isinstance(e, Cue)]


def test_tag_becomes_cue_at_the_word_it_precedes() -> None:
    events = parse(["Hi [joy] there, [surprise:0.6] really?"])
    assert text_of(events) == "Hi there, really?"
    assert cues_of(events) == [("joy", 1.0, 3), ("surprise", 0.6, 10)]


def test_non_emotion_brackets_stay_text() -> None:
    line = "See [1], tick [x], [see above], [NASA] and [a link](https://example.com)."
    events = parse([line])
    assert text_of(events) == line
    assert cues_of(events) == []


def test_aliases_and_intensity_clipping() -> None:
    events = parse(["[Happy] yes [furious:3] no [worried:0.5] hm"])
    cues = cues_of(events)
    assert [c[0] for c in cues] == ["joy", "anger", "fear"]
    assert all(0.0 <= c[1] <= 1.0 for c in cues)
    assert cues[1][1] == 1.0  # 3 is clipped


def test_unknown_tag_word_is_dropped_without_a_cue() -> None:
    events = parse(["I am [happyish] fine"])
    assert text_of(events) == "I am fine"
    assert cues_of(events) == []


def test_whitespace_collapses_around_removed_tags() -> None:
    assert text_of(parse(["Great news [joy]!"])) == "Great news!"
    assert text_of(parse(["[joy]  Hello"])) == "Hello"
    assert text_of(parse(["One.\n\n[sadness] Two."])) == "One.\n\nTwo."
    assert text_of(parse(["A[joy] b"])) == "A b"


def test_blend_of_tags_shares_an_offset() -> None:
    assert cues_of(parse(["Oh [joy][surprise:0.5] wow"])) == [("joy", 1.0, 3), ("surprise", 0.5, 3)]


def test_trailing_tag_points_at_end_of_text() -> None:
    events = parse(["Done [joy]"])
    assert text_of(events) == "Done"
    assert cues_of(events) == [("joy", 1.0, 4)]


def test_offsets_count_code_points() -> None:
    events = parse(["héllo 🦊 [joy] ok"])
    assert text_of(events) == "héllo 🦊 ok"
    assert cues_of(events) == [("joy", 1.0, 8)]


def test_text_offsets_are_contiguous() -> None:
    events = parse(["Hi ", "[jo", "y] the", "re [1] x"])
    offset = 0
    for e in events:
        if isinstance(e, Text):
            assert e.offset == offset
            offset += len(e.delta)


def test_incomplete_tag_is_held_back_until_complete() -> None:
    parser = TagParser()
    first = parser.push("Hello [surpr")
    assert text_of(first) == "Hello"  # "[surpr" and the space before it wait
    second = parser.push("ise:0.6] world")
    assert cues_of(second) == [("surprise", 0.6, 6)]
    assert text_of(second) == " world"


def test_stage_directions_become_cues_and_leave_the_text() -> None:
    events = parse(["*smiles warmly* Hello! Oh (laughs) that's funny. *sighs*"])
    assert text_of(events) == "Hello! Oh that's funny."
    assert [c[0] for c in cues_of(events)] == ["joy", "joy", "sadness"]
    assert cues_of(events)[1][2] == len("Hello! Oh ")
    assert sources_of(events) == ["stage", "stage", "stage"]


def test_gestures_without_emotion_are_removed_without_a_cue() -> None:
    events = parse(["*nods* Sure, (pauses) let's go."])
    assert text_of(events) == "Sure, let's go."
    assert cues_of(events) == []


def test_emphasis_and_asides_stay_text() -> None:
    line = "This is *really* important (see above), **bold**, 2 * 3 * 4, (happy to help)."
    events = parse([line])
    assert text_of(events) == line
    assert cues_of(events) == []


def test_emoji_become_cues() -> None:
    events = parse(["Great news 😀! Love it ❤️ so much 😭"])
    assert text_of(events) == "Great news! Love it so much"
    assert [c[0] for c in cues_of(events)] == ["joy", "joy", "sadness"]
    assert sources_of(events) == ["stage"] * 3


def test_code_is_untouched() -> None:
    code = "Use `[joy]` like this:\n```python\nx = [anger]  # *smiles* (laughs) 😀\n```\n"
    events = parse([code + "[joy] Done!"])
    assert text_of(events) == code + "Done!"
    assert cues_of(events) == [("joy", 1.0, len(code))]


SAMPLES = [
    "[joy] Great news! I got the job [surprise:0.7] and a raise.",
    "See [1] and [x]; [sad] that's [link](http://a.b) [anger:0.2]!",
    "Unclosed [bracket stays and [joy:0.5] then [fear",
    "Numbers [0.5] and [joy:] and [:0.3] and [joy:abc] and []",
    "Multi\nline [thinking]\n\n[confusion:0.4] hm?",
    "*smiles* Hi (laughs) 😀❤️ *really* (see) ``[joy]`` ```\n[anger] *sighs*\n``` [joy] ok",
]


def test_split_at_every_position_matches_one_shot() -> None:
    for sample in SAMPLES:
        expected = parse([sample])
        for i in range(len(sample) + 1):
            got = parse([sample[:i], sample[i:]])
            assert (text_of(got), cues_of(got)) == (text_of(expected), cues_of(expected)), (sample, i)


def test_character_by_character_matches_one_shot() -> None:
    for sample in SAMPLES:
        expected = parse([sample])
        got = parse(list(sample))
        assert (text_of(got), cues_of(got)) == (text_of(expected), cues_of(expected))


_pieces = st.sampled_from(
    [
        "[joy]",
        "[sadness:0.3]",
        "[1]",
        "[x]",
        "[",
        "]",
        "(",
        " ",
        "\n",
        "word",
        "!",
        ".",
        "[happy",
        ":0.4]",
        "é",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=25), st.lists(st.integers(0, 200), max_size=6))
def test_any_chunking_matches_one_shot(pieces: list[str], cuts: list[int]) -> None:
    text = "".join(pieces)
    bounds = sorted({min(c, len(text)) for c in cuts})
    chunks = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
    expected, got = parse([text]), parse(chunks)
    assert (text_of(got), cues_of(got)) == (text_of(expected), cues_of(expected))
    for _emotion, intensity, offset in cues_of(got):
        assert 0.0 <= intensity <= 1.0
        assert 0 <= offset <= len(text_of(got))
