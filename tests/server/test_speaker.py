"""Spoken replies over a real server: sentence audio in order on the frames' clock, the mouth moving with
it, cues on the audio time of their words, and interruption stopping it all (by message order)."""

from __future__ import annotations

import asyncio
import io
import itertools
from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from animation.arkit import INDEX
from server.runner import LiveServer
from server.voice.encode import to_ogg_opus
from server.voice.pieces import LONG, MAX_PIECE, MIN_CLAUSE, first_clause, piece_cut
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI


def test_a_spoken_reply_arrives_sentence_by_sentence_on_one_clock(mien: LiveServer) -> None:
    async def main() -> None:
        async with Client(mien.ws_url) as c:
            hello = await c.next_message("hello")
            assert hello["voice"] is True and hello["audio"]["encoding"] == "ogg-opus"
            await c.send({"type": "set_voice", "enabled": True})
            await c.send(
                {"type": "speak", "text": "[joy] Hello there, my friend. [sadness] Goodbye for now."}
            )
            end = await c.next_message("reply_end")
            assert end["status"] == "complete"
            speech = c.of_type("speech", end["reply_id"])
            assert [s["sentence"] for s in speech] == [0, 1]
            first, second = speech
            assert second["t_ms"] >= first["t_ms"] + first["duration_ms"] - 1  # in order, no overlap
            assert (first["text_start"], second["text_start"]) == (0, len("Hello there, my friend. "))
            # Audio: one Ogg/Opus file per sentence, as long as its message says, before reply_end.
            assert [(r, n) for r, n, _ in c.audio] == [(end["reply_id"], 0), (end["reply_id"], 1)]
            assert all(at <= c.index(end) for at in c.audio_at)
            for (_, _, ogg), s in zip(c.audio, speech, strict=True):
                audio, rate = sf.read(io.BytesIO(ogg))
                assert rate == hello["audio"]["sample_rate"]
                assert abs(len(audio) / rate * 1000 - s["duration_ms"]) < 60
            # Words for captions sit inside their sentence's audio.
            for s in speech:
                assert s["words"] and all(
                    s["t_ms"] <= w["t_ms"] <= w["end_ms"] <= s["t_ms"] + s["duration_ms"] + 1
                    for w in s["words"]
                )
            # The sadness cue lands on the audio time of "Goodbye", not when the text arrived.
            (cue,) = second["cues"]
            assert cue["emotion"] == "sadness" and cue["t_ms"] == second["words"][0]["t_ms"]
            # The mouth moves while the first sentence sounds, and rests after the last one.
            stop_at = second["t_ms"] + second["duration_ms"]
            await c.wait_for(lambda cl: cl.frames and cl.frames[-1][1] > stop_at + 600, "frames after speech")
            jaw = INDEX["jawOpen"]
            during = [
                f[2][jaw] for f in c.frames if first["t_ms"] <= f[1] <= first["t_ms"] + first["duration_ms"]
            ]
            after = [f[2][jaw] for f in c.frames if f[1] > stop_at + 400]
            assert max(during) > 0.15 and max(after) < 0.05

    asyncio.run(main())


def test_an_inferred_cue_is_spoken_with_its_own_sentence(mien: LiveServer) -> None:
    """A sentence the model left untagged is read before it is spoken: its inferred cue lands on its own
    first word's audio, not on the next sentence."""

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "speak", "text": "I'm so sorry for your loss, truly. [joy] See you soon."})
            end = await c.next_message("reply_end")
            inferred = [m for m in c.of_type("emotion", end["reply_id"]) if m["source"] == "inferred"]
            assert inferred and inferred[0]["emotion"] == "sadness" and inferred[0]["offset"] == 0
            first, second = c.of_type("speech", end["reply_id"])
            assert [cue["emotion"] for cue in first["cues"]] == ["sadness"]
            assert first["cues"][0]["t_ms"] == first["words"][0]["t_ms"]
            assert [cue["emotion"] for cue in second["cues"]] == ["joy"]

    asyncio.run(main())


def test_stop_halts_speech(mien: LiveServer) -> None:
    text = " ".join(f"This is sentence number {i} of a long speech." for i in range(12))

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "speak", "text": text})
            first = await c.next_message("speech")
            await c.send({"type": "stop"})
            end = await c.next_message("reply_end")
            assert end["status"] == "interrupted"
            n = c.index(end)
            assert not [m for m in c.messages[n:] if m["type"] == "speech"]  # nothing spoken after the end
            assert len(c.of_type("speech")) < 12
            # The mouth closes soon after: frames well past the stop show the jaw at rest.
            t_end = c.frames[-1][1] if c.frames else first["t_ms"]
            await c.wait_for(lambda cl: cl.frames and cl.frames[-1][1] > t_end + 800, "frames after stop")
            assert max(f[2][INDEX["jawOpen"]] for f in c.frames if f[1] > t_end + 500) < 0.05

    asyncio.run(main())


def test_the_face_keeps_speaking_until_the_voice_has_sounded(mien: LiveServer) -> None:
    """reply_end comes when the last sentence has sounded (by the frames' clock), so a stop while the voice
    still talks interrupts the reply: the voice and the mouth stop at once, and the reply keeps only the
    words the user heard (the text streamed ahead of the voice)."""
    line = "One short sentence. Then a second one to say. And a third, to be sure."

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "speak", "text": line})
            end = await c.next_message("reply_end")
            assert end["status"] == "complete" and end["text"] == line
            idle = await c.next_message("state", after=c.index(end), state="idle")
            last = c.of_type("speech", end["reply_id"])[-1]
            sounded_until = last["t_ms"] + last["duration_ms"]
            # The frame sent just before reply_end is already at (or within a frame of) the voice's end.
            t_before_end = c.frames[c.frames_before[c.index(end)] - 1][1]
            assert t_before_end >= sounded_until - 40
            assert [m["state"] for m in c.messages[c.index(end) :] if m["type"] == "state"] == ["idle"]

            # Again, stopped while the second sentence sounds: what was heard is what the reply keeps.
            await c.send({"type": "speak", "text": line})
            second = await c.next_message("speech", after=c.index(idle), sentence=1)
            at = second["t_ms"] + second["words"][1]["t_ms"] - second["t_ms"] + 50
            await c.wait_for(lambda cl: cl.frames[-1][1] > at, "the second sentence's second word")
            await c.send({"type": "stop"})
            end2 = await c.next_message("reply_end", after=c.index(second))
            assert end2["status"] == "interrupted"
            assert line.startswith(end2["text"]) and "Then a" in end2["text"] and "third" not in end2["text"]
            idle2 = await c.next_message("state", after=c.index(end2), state="idle")
            t_stop = c.frames[c.frames_before[c.index(idle2)] - 1][1]
            assert t_stop < second["t_ms"] + second["duration_ms"]  # before the sentence would have ended
            await c.wait_for(lambda cl: cl.frames[-1][1] > t_stop + 600, "frames after the stop")
            assert max(f[2][INDEX["jawOpen"]] for f in c.frames if f[1] > t_stop + 400) < 0.05
            await c.send({"type": "export_history"})
            turns = (await c.next_message("history", reason="export"))["turns"]
            assert turns[-1]["content"] == end2["text"] and turns[-1]["status"] == "interrupted"

    asyncio.run(main())


def test_voice_off_by_default_sends_no_audio(mien: LiveServer) -> None:
    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "speak", "text": "Silent text."})
            await c.next_message("reply_end")
            assert not c.of_type("speech") and not c.audio

    asyncio.run(main())


def test_a_sentence_with_nothing_to_say_is_skipped_not_fatal(mien: LiveServer) -> None:
    """ "..." between sentences has no words (Piper gives it no audio): it is not spoken, its cue still
    reaches the face, and the reply completes."""

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "speak", "text": "Well. ... [surprise] Fine then."})
            end = await c.next_message("reply_end")
            assert end["status"] == "complete" and not c.of_type("error")
            speech = c.of_type("speech", end["reply_id"])
            assert [end["text"][s["text_start"] : s["text_end"]].strip() for s in speech] == [
                "Well.",
                "Fine then.",
            ]
            assert len(c.audio) == 2

    asyncio.run(main())


def test_a_long_first_sentence_is_spoken_clause_by_clause(mien: LiveServer) -> None:
    """Nothing is sounding yet, so the first sentence is urgent: its first clause goes out on its own,
    the rest right behind it on the same clock; cues travel with their clause."""
    first = (
        "Well, when the old keeper finally retired after forty years on the island, [joy] the whole "
        "village gathered on the pier to thank him. "
    )

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "speak", "text": first + "He smiled."})
            end = await c.next_message("reply_end")
            text = end["text"]
            speech = c.of_type("speech", end["reply_id"])
            assert [s["sentence"] for s in speech] == [0, 1, 2]
            cut = text.index("after")  # the comma comes too late: cut before "after" instead
            assert [(s["text_start"], s["text_end"]) for s in speech] == [
                (0, cut),
                (cut, text.index("He smiled")),
                (text.index("He smiled"), len(text)),
            ]
            assert speech[1]["t_ms"] >= speech[0]["t_ms"] + speech[0]["duration_ms"] - 1
            (cue,) = speech[1]["cues"]  # [joy] colours "the whole ...", in the second piece
            (word,) = [w for w in speech[1]["words"] if w["offset"] == text.index("the whole")]
            assert cue["emotion"] == "joy" and cue["t_ms"] == word["t_ms"]
            assert not speech[0]["cues"]

    asyncio.run(main())


def test_no_synthesis_is_longer_than_a_piece(mien: LiveServer) -> None:
    """A long run-on sentence (no full stop) is spoken in pieces of at most MAX_PIECE characters, in order
    and tiling the text, so one request never ties a voice thread up for long."""
    line = " ".join(["the lamp kept burning and the ships kept passing by the rocks"] * 10) + "."

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "speak", "text": line})
            # Every piece is sent long before it has all sounded (~40 s, which reply_end waits for).
            last = await c.next_message("speech", text_end=len(line))
            speech = c.of_type("speech", last["reply_id"])
            spans = [(s["text_start"], s["text_end"]) for s in speech]
            assert len(spans) >= len(line) // MAX_PIECE + 1
            assert all(b - a <= MAX_PIECE for a, b in spans)
            assert spans[0][0] == 0 and spans[-1][1] == len(line)
            assert all(b == a2 for (_, b), (a2, _) in itertools.pairwise(spans))

    asyncio.run(main())


def test_where_a_sentence_is_cut() -> None:
    assert first_clause("Sure, I would be glad to help with that.") is None  # short: said whole
    head = "When the old keeper retired after forty years, "
    assert first_clause(head + "the whole village gathered on the pier.") == len(head)
    head = "Well, when the old keeper finally retired "  # "Well, " is too short, "island, " too far
    assert first_clause(head + "after forty years on the island, the village cheered.") == len(head)
    s = "The keeper climbed the winding stairs every single night and lit the great lamp for the ships."
    assert s[: first_clause(s)] == "The keeper climbed the winding stairs every single night "
    s = "Thelighthousekeeperclimbedthewindingstairseverysinglenightforthepassingshipsyes."
    assert first_clause(s) is None  # no clause boundary: said whole


@given(st.lists(st.sampled_from(["word", "a", "longerword", ",", ";", "and", "with", "—", "."]), max_size=60))
def test_a_cut_keeps_both_pieces_worth_saying(tokens: list[str]) -> None:
    text = " ".join(tokens)
    cut = first_clause(text)
    if cut is None:
        return
    n = len(text.rstrip())
    assert n > LONG and cut >= MIN_CLAUSE and n - cut >= MIN_CLAUSE and 8 * cut >= n - cut
    head = text[:cut]
    assert head.rstrip()[-1] in ",;:—-" or text[cut:].split()[0].lower() in ("and", "with")


def test_urgent_audio_is_still_ogg_opus() -> None:
    t = np.arange(24_000) / 22_050
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for fast in (False, True):
        audio, rate = sf.read(io.BytesIO(to_ogg_opus(tone, 22_050, fast=fast)))
        assert rate == 24_000 and abs(len(audio) - round(len(tone) * 24_000 / 22_050)) < 240


@given(st.lists(st.sampled_from(["word", "a", "longerwordstill", ",", "and", "x" * 300, "."]), max_size=80))
def test_pieces_are_never_longer_than_max_piece(tokens: list[str]) -> None:
    text = " ".join(tokens)
    pieces = []
    while (cut := piece_cut(text)) is not None:
        assert 0 < cut <= MAX_PIECE
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    assert all(len(p.rstrip()) <= MAX_PIECE for p in pieces)
    assert "".join(pieces) == " ".join(tokens)


def _say_together(url: str, line: str) -> list[tuple[list[dict], list[bytes]]]:
    """Two sessions speak `line` at once: each one's speech messages and audio files."""

    async def one() -> tuple[list[dict], list[bytes]]:
        async with Client(url) as c:
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "speak", "text": line})
            end = await c.next_message("reply_end")
            assert end["status"] == "complete"
            return c.of_type("speech", end["reply_id"]), [ogg for _, _, ogg in c.audio]

    async def main() -> list[tuple[list[dict], list[bytes]]]:
        return list(await asyncio.gather(one(), one()))

    return asyncio.run(main())


def test_a_line_many_sessions_say_is_made_once(mien: LiveServer) -> None:
    """The voice's audio for a sentence is kept (server/voice/cache.py): a second session saying it at the
    same time gets the very same file (Piper's timbre noise and Ogg's random stream serial make every fresh
    synthesis differ, see below), on its own session clock."""
    line = "[joy] Welcome to the harbour museum. Ask me anything about the lighthouse!"
    (speech_a, audio_a), (speech_b, audio_b) = _say_together(mien.ws_url, line)
    assert len(audio_a) == len(speech_a) == 2 and audio_a == audio_b
    for a, b in zip(speech_a, speech_b, strict=True):
        assert a["duration_ms"] == b["duration_ms"] and a["audio_bytes"] == b["audio_bytes"]
        at_a = [w["t_ms"] - a["t_ms"] for w in a["words"]]  # word timings relative to the sentence (ms,
        at_b = [w["t_ms"] - b["t_ms"] for w in b["words"]]  # each rounded on its own session's clock)
        assert len(at_a) == len(at_b) and all(abs(x - y) <= 1 for x, y in zip(at_a, at_b, strict=True))
        assert [c["emotion"] for c in a["cues"]] == [c["emotion"] for c in b["cues"]]


def test_without_the_cache_each_session_synthesises(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    from server.app import create_app

    settings = mien_settings(fake_llm, tmp_path, voice_cache_mb=0)
    with LiveServer(create_app(settings, warm_up=False)) as server:
        (_, audio_a), (_, audio_b) = _say_together(server.ws_url, "Welcome to the harbour museum.")
    assert len(audio_a) == len(audio_b) == 1 and audio_a != audio_b
