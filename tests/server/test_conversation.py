"""Conversation history within a token budget, and the reply event path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from server.conversation import Conversation, ReplyCue, Turn, reply_events, rough_tokens
from server.feelings import Inference
from server.tags import Text


def test_oldest_turns_are_dropped_to_fit_the_budget() -> None:
    conv = Conversation(system_prompt="sys", token_budget=60)
    for i in range(20):
        conv.turns.append(Turn("user" if i % 2 == 0 else "assistant", f"turn {i} " + "x" * 40))
    messages = conv.messages()
    assert messages[0] == {"role": "system", "content": "sys"}
    assert rough_tokens(messages) <= 60
    assert messages[-1]["content"].startswith("turn 19")  # the newest survives
    assert len(messages) < 21


def test_the_newest_turn_stays_even_when_over_budget() -> None:
    conv = Conversation(system_prompt="sys", token_budget=5, turns=[Turn("user", "y" * 400)])
    assert conv.messages()[-1]["content"] == "y" * 400


def test_interrupted_turns_are_marked() -> None:
    conv = Conversation(
        system_prompt="s", turns=[Turn("assistant", "Cut", "interrupted"), Turn("user", "Hi")]
    )
    assert conv.messages()[1]["content"] == "Cut …"


def test_untagged_sentences_get_inferred_cues_with_confidence() -> None:
    async def chunks() -> AsyncIterator[str]:
        yield "[joy] Tagged one. Untagged "
        yield "two. "

    def classify(sentence: str) -> Inference | None:
        return Inference("sadness", 0.6, {"sadness": 0.7}) if "Untagged" in sentence else None

    async def run() -> list[object]:
        return [e async for e in reply_events(chunks(), classify)]

    events = asyncio.run(run())
    cues = [e for e in events if isinstance(e, ReplyCue)]
    assert cues == [ReplyCue("joy", 1.0, 0, "tag", 1.0), ReplyCue("sadness", 0.6, 12, "inferred", 0.7)]
    assert "".join(e.delta for e in events if isinstance(e, Text)) == "Tagged one. Untagged two."


def test_a_tag_the_words_contradict_is_tempered_and_says_so() -> None:
    async def chunks() -> AsyncIterator[str]:
        yield "[joy] I'm so sorry for your loss. [joy] Lovely to see you again!"

    async def run() -> list[object]:
        return [e async for e in reply_events(chunks())]  # the real classifier

    cues = [e for e in asyncio.run(run()) if isinstance(e, ReplyCue)]
    tempered = [c for c in cues if c.tempered_by]
    assert len(tempered) == 1
    assert tempered[0].emotion == "joy" and tempered[0].tempered_by == "sadness" and tempered[0].offset == 0
    assert tempered[0].intensity < 0.5
    # The second sentence agrees with its tag: untouched.
    assert [c.intensity for c in cues if c.offset > 0] == [1.0]
