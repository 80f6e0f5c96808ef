"""Several sessions speaking at once: each gets its own sentences, in order, each `speech` message followed
at once by its own audio, no cross-talk. Asserted by indices, offsets and message order (no clock)."""

from __future__ import annotations

import asyncio
import io
import itertools
from typing import Any

import soundfile as sf

from server.runner import LiveServer
from tests.fakes.client import Client
from tests.fakes.openai_server import ScriptedOpenAI

WORDS = "amber birch cedar delta ember fable grove harbor island juniper kettle lantern meadow".split()


def _reply(k: int, sentences: int, long: bool) -> list[str]:
    """Session k's sentences: each a different number of words (so audio that went to the wrong session,
    or the wrong sentence, would not match its message's duration or words)."""
    out = []
    for i in range(sentences):
        n = (14 if long else 3) + 2 * k + i
        words = [WORDS[(k + i + j) % len(WORDS)] for j in range(n)]
        out.append(f"Session {k} says {' '.join(words)}. ")
    return out


def _script(sentences: list[str]) -> list[dict[str, Any]]:
    """The first sentence (and the next word: the tag parser holds trailing spaces, so a sentence is
    complete only when more text follows), then the model holds (so every session is mid-reply at
    once), then the rest word by word."""
    first, *rest = "".join(sentences[1:]).split()
    return [{"content": sentences[0] + first}, {"hold": True}, *({"content": " " + w} for w in rest)]


def _check_session(c: Client) -> int:
    """Every check on one session's transcript; returns its number of spoken pieces."""
    (end,) = c.of_type("reply_end")
    assert end["status"] == "complete"
    text, rid = end["text"], end["reply_id"]
    speech = c.of_type("speech")
    assert speech and all(s["reply_id"] == rid for s in speech)
    assert [s["sentence"] for s in speech] == list(range(len(speech)))  # 0..n-1, in order
    # The pieces tile this session's own reply text, in order.
    assert speech[0]["text_start"] == 0 and speech[-1]["text_end"] == len(text)
    for a, b in itertools.pairwise(speech):
        assert b["text_start"] == a["text_end"]
        assert b["t_ms"] >= a["t_ms"] + a["duration_ms"] - 1  # on one clock, never overlapping
    # Each speech message is followed at once by its own audio (nothing between them), before reply_end.
    assert [(r, n) for r, n, _ in c.audio] == [(rid, s["sentence"]) for s in speech]
    assert c.audio_at == [c.index(s) + 1 for s in speech]
    assert all(at <= c.index(end) for at in c.audio_at)
    for s, (_, _, ogg) in zip(speech, c.audio, strict=True):
        spoken = text[s["text_start"] : s["text_end"]]
        words = [w for w in spoken.replace(".", " ").split() if w]
        assert len(s["words"]) == len(words), (spoken, s["words"])  # the words of this text, no other
        assert all(s["text_start"] <= w["offset"] < s["text_end"] for w in s["words"])
        audio, rate = sf.read(io.BytesIO(ogg))
        assert abs(len(audio) / rate * 1000 - s["duration_ms"]) < 60  # this piece's audio
    return len(speech)


def test_sessions_speaking_at_once_keep_their_own_order(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    # Session 0 speaks long sentences (slow synthesis, clause splits); the others short ones.
    replies = [_reply(k, sentences=4, long=k == 0) for k in range(4)]
    fake_llm.queue(*(_script(r) for r in replies))

    async def main() -> None:
        clients = [Client(mien.ws_url) for _ in replies]
        for c in clients:
            await c.__aenter__()
        try:
            for c in clients:
                await c.send({"type": "set_voice", "enabled": True})
            for c in clients:
                await c.send({"type": "user_message", "text": "Talk to me."})
            # Every session has spoken its first sentence and is waiting on its model: all mid-reply.
            await asyncio.gather(*(c.next_message("speech") for c in clients))
            fake_llm.release()
            await asyncio.gather(*(c.next_message("reply_end") for c in clients))
            texts = sorted(c.of_type("reply_end")[0]["text"].strip() for c in clients)
            assert texts == sorted("".join(r).strip() for r in replies)  # each got one whole reply
            pieces = [_check_session(c) for c in clients]
            assert all(n >= 4 for n in pieces)
        finally:
            for c in clients:
                await c.__aexit__(None, None, None)

    asyncio.run(main())
