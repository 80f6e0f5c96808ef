"""A conversation's history within a token budget (each turn counted once), stored in SQLite and in
PostgreSQL, and held while the store can't be reached; and a reply's event path: text, cues and finished
sentences carrying their cues."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from server.events import Cue, Gesture, Sentence, Text, Turn
from server.llm import rough_tokens
from server.protocol import SERVER_ADAPTER, HistoryTurn
from server.protocol import History as HistoryMessage
from server.reply.feelings import Inference
from server.reply.history import History
from server.reply.sentences import reply_events
from server.store import Store
from server.store.sqlite import SqliteStore

pytest_plugins = ["tests.engines.postgres_fixtures"]
OpenStore = Callable[[], Store]


def history(turns: list[Turn], budget: int = 1500, count=rough_tokens) -> History:  # type: ignore[no-untyped-def]
    h = History(SqliteStore(), "s", count, budget)
    h.turns = list(turns)
    return h


def test_oldest_turns_are_dropped_to_fit_the_budget() -> None:
    turns = [Turn("user" if i % 2 == 0 else "assistant", f"turn {i} " + "x" * 40) for i in range(20)]
    messages, tokens = history(turns, budget=60).messages("sys")
    assert messages[0] == {"role": "system", "content": "sys"}
    assert tokens == rough_tokens(messages) <= 60
    assert messages[-1]["content"].startswith("turn 19")  # the newest survives
    assert 2 < len(messages) < 21
    assert [m["content"][:7] for m in messages[1:]] == [
        f"turn {i}"[:7] for i in range(21 - len(messages), 20)
    ]


def test_each_turn_is_counted_once() -> None:
    counted: list[str] = []

    def count(messages: list[dict[str, str]]) -> int:
        counted.extend(m["content"] for m in messages)
        return rough_tokens(messages)

    h = history([Turn("user", f"message {i}") for i in range(30)], budget=100, count=count)
    h.messages("sys")
    assert len(counted) == len(set(counted)) < 31  # the prompt and the newest turns, until the budget
    h.turns.append(Turn("assistant", "a new reply"))
    counted.clear()
    h.messages("sys, changed")
    assert sorted(counted) == ["a new reply", "sys, changed"]  # the prompt (it changes), the new turn


def test_the_newest_turn_stays_even_when_over_budget() -> None:
    messages, _ = history([Turn("user", "y" * 400)], budget=5).messages("sys")
    assert messages[-1]["content"] == "y" * 400


def test_interrupted_turns_are_marked() -> None:
    h = history([Turn("assistant", "Cut", "interrupted"), Turn("user", "Hi")])
    assert h.messages("s")[0][1]["content"] == "Cut …"


def test_turns_are_stored_and_resumed(open_store: OpenStore) -> None:
    async def main() -> list[Turn]:
        store = open_store()
        h = History(store, "s", rough_tokens)
        cue = Cue("joy", 0.5, 0, "tag")
        await h.add(Turn("user", "Hi"))
        await h.add(Turn("assistant", "Hello!", "complete", (cue,), gestures=(Gesture("nod"),)))
        again = History(open_store(), "s", rough_tokens)  # another process, or after a restart
        await again.resume()
        await store.close()
        await again.store.close()
        return again.turns

    turns = asyncio.run(main())
    assert turns == [
        Turn("user", "Hi"),
        Turn(
            "assistant", "Hello!", "complete", (Cue("joy", 0.5),), gestures=(Gesture("nod", 0, 1.0, "tag"),)
        ),
    ]
    # A resumed chat shows them again: the `history` message carries each turn's cues and gestures.
    sent = HistoryMessage(reason="resume", turns=[HistoryTurn.of(t) for t in turns])
    wire = SERVER_ADAPTER.validate_json(sent.model_dump_json()).model_dump()
    assert wire["turns"][1]["cues"] == [{"emotion": "joy", "intensity": 0.5, "offset": 0, "source": "tag"}]
    assert wire["turns"][1]["gestures"] == [
        {"gesture": "nod", "intensity": 1.0, "offset": 0, "source": "tag"}
    ]
    assert wire["turns"][0]["gestures"] == []


def events_of(*chunks: str, classify=None) -> list[object]:  # type: ignore[no-untyped-def]
    async def stream() -> AsyncIterator[str]:
        for chunk in chunks:
            yield chunk

    async def run() -> list[object]:
        kwargs = {"classify": classify} if classify else {}
        return [e async for e in reply_events(stream(), **kwargs)]

    return asyncio.run(run())


def test_untagged_sentences_get_inferred_cues_with_confidence() -> None:
    def classify(sentence: str) -> Inference | None:
        return Inference("sadness", 0.6, {"sadness": 0.7}) if "Untagged" in sentence else None

    events = events_of("[joy] Tagged one. Untagged ", "two. ", classify=classify)
    joy, sad = Cue("joy", 1.0, 0, "tag", 1.0), Cue("sadness", 0.6, 12, "inferred", 0.7)
    assert [e for e in events if isinstance(e, Cue)] == [joy, sad]
    assert "".join(e.delta for e in events if isinstance(e, Text)) == "Tagged one. Untagged two."
    # Each sentence comes after its text and its inferred cue, carrying its cues (for the voice).
    assert [e for e in events if isinstance(e, Sentence)] == [
        Sentence(0, "Tagged one. ", (joy,)),
        Sentence(12, "Untagged two.", (sad,)),  # a reply's trailing space is not part of it
    ]
    assert events.index(sad) < events.index(Sentence(12, "Untagged two.", (sad,)))


def test_a_tag_the_words_contradict_is_tempered_and_says_so() -> None:
    events = events_of(
        "[joy] I'm so sorry for your loss. [joy] Lovely to see you again!"
    )  # the real classifier
    cues = [e for e in events if isinstance(e, Cue)]
    tempered = [c for c in cues if c.tempered_by]
    assert len(tempered) == 1
    assert tempered[0].emotion == "joy" and tempered[0].tempered_by == "sadness" and tempered[0].offset == 0
    assert tempered[0].intensity < 0.5
    # The second sentence agrees with its tag: untouched.
    assert [c.intensity for c in cues if c.offset > 0] == [1.0]
    # The voice gets the correction in place of the tag: the face never shows the contradicted [joy].
    first = next(e for e in events if isinstance(e, Sentence))
    assert first.cues == (tempered[0],)


def test_a_trailing_tag_colours_the_last_sentence() -> None:
    events = events_of("Well. Great news! [joy]", classify=lambda s: None)
    assert [e for e in events if isinstance(e, Sentence)] == [
        Sentence(0, "Well. ", ()),
        Sentence(6, "Great news!", (Cue("joy", 1.0, 17, "tag"),)),
    ]


def test_cues_the_persona_never_shows_are_dropped_and_nothing_is_inferred_instead() -> None:
    def classify(sentence: str) -> Inference | None:  # would read the first sentence as sad
        return Inference("sadness", 0.6, {"sadness": 0.7}) if "sad" in sentence else None

    async def run() -> list[object]:
        async def stream() -> AsyncIterator[str]:
            yield "[anger] Grr, this is so sad. [joy] Yay."

        return [e async for e in reply_events(stream(), classify, keep=lambda e: e != "anger")]

    events = asyncio.run(run())
    assert [c.emotion for c in events if isinstance(c, Cue)] == ["joy"]
    assert next(s.cues for s in events if isinstance(s, Sentence)) == ()


def test_a_long_conversation_keeps_its_newest_turns_in_memory_and_all_in_the_store(
    open_store: OpenStore,
) -> None:
    async def main() -> tuple[list[Turn], list[Turn], int]:
        store = open_store()
        h = History(store, "s", rough_tokens, max_turns=10)
        for i in range(25):
            await h.add(Turn("user", f"turn {i}"))
        again = History(store, "s", rough_tokens, max_turns=10)
        await again.resume()
        stored = len(await store.turns("s"))
        await store.close()
        return h.turns, again.turns, stored

    kept, resumed, stored = asyncio.run(main())
    assert [t.content for t in kept] == [f"turn {i}" for i in range(15, 25)] == [t.content for t in resumed]
    assert stored == 25
