"""Transcript tests: a real websocket client against Mien on a real uvicorn server, the model a scripted
OpenAI-compatible SSE server. Order is asserted by message index and frame sequence numbers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from animation.arkit import ARKIT_52, INDEX
from animation.emotions import EMOTIONS
from server.protocol import PROTOCOL_VERSION
from server.runner import LiveServer
from tests.fakes.client import Client
from tests.fakes.openai_server import ScriptedOpenAI


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def with_client(server: LiveServer, body: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with Client(server.ws_url) as client:
            await body(client)

    run(main())


def test_healthz(mien: LiveServer) -> None:
    body = httpx.get(f"{mien.http_url}/healthz").json()
    assert body["status"] == "ok" and body["model"] == "fake-model" and body["version"]


def test_hello_comes_first_and_names_everything(mien: LiveServer) -> None:
    async def body(c: Client) -> None:
        hello = await c.next_message("hello")
        assert c.messages[0] is hello
        assert hello["protocol"] == PROTOCOL_VERSION
        assert hello["blendshapes"] == list(ARKIT_52) and len(hello["blendshapes"]) == 52
        assert hello["channels"] == ["headYaw", "headPitch", "headRoll"]
        assert hello["emotions"] == list(EMOTIONS)
        assert hello["fps"] == 30

    with_client(mien, body)


def test_reply_transcript(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue(
        [{"content": "[joy] That's gre"}, {"content": "at news! The meeting"}, {"content": " is at three."}]
    )

    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.send({"type": "user_message", "text": "I got the job!"})
        end = await c.next_message("reply_end")
        rid = end["reply_id"]
        assert end["status"] == "complete"
        assert end["text"] == "That's great news! The meeting is at three."
        start = await c.next_message("reply_start")
        assert start["reply_id"] == rid and start["source"] == "model"
        texts = c.of_type("text", rid)
        assert "".join(t["delta"] for t in texts) == end["text"]
        offsets = [t["offset"] for t in texts]
        assert offsets == sorted(offsets) and offsets[0] == 0
        cues = [m for m in c.of_type("emotion", rid) if m["source"] != "empathy"]
        assert (cues[0]["emotion"], cues[0]["offset"], cues[0]["source"]) == ("joy", 0, "tag")
        # The untagged second sentence got no strong inferred emotion, or one with source "inferred".
        assert all(cue["source"] in ("tag", "inferred") for cue in cues)
        # The tag's cue precedes the text it colours; reply_end follows every text message.
        assert c.index(start) < c.index(cues[0]) < c.index(texts[0]) < c.index(end)
        await c.next_message("state", after=c.index(end), state="idle")
        states = [m["state"] for m in c.of_type("state")]
        assert states[:4] == ["idle", "thinking", "speaking", "idle"]
        assert fake_llm.requests[-1]["messages"][-1] == {"role": "user", "content": "I got the job!"}

    with_client(mien, body)


def test_untagged_sentence_gets_an_inferred_emotion(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "I'm so sorry for your loss. I miss her too."}])

    async def body(c: Client) -> None:
        await c.send({"type": "user_message", "text": "My grandmother died."})
        end = await c.next_message("reply_end")
        cues = [m for m in c.of_type("emotion", end["reply_id"]) if m["source"] != "empathy"]
        assert cues and cues[0]["source"] == "inferred" and cues[0]["emotion"] == "sadness"
        assert cues[0]["offset"] == 0

    with_client(mien, body)


def test_emotion_cue_moves_the_face(mien: LiveServer) -> None:
    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.frames_after(2)
        smile = INDEX["mouthSmileLeft"]
        before = c.frames[-1][2][smile]
        await c.send({"type": "speak", "text": "[joy] Hooray!"})
        await c.next_message("reply_end")
        smiling = await c.wait_for(
            lambda cl: [i for i, f in enumerate(cl.frames) if f[2][smile] > before + 0.3], "the smile to rise"
        )
        seqs = [f[0] for f in c.frames]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # The cue moved it: the face was not smiling yet in any frame that came before the joy cue did.
        cue = next(m for m in c.of_type("emotion") if m["emotion"] == "joy" and m["source"] == "tag")
        assert smiling[0] >= c.frames_before[c.index(cue)]

    with_client(mien, body)


def test_stop_mid_reply_keeps_partial_text_and_cancels_upstream(
    mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    fake_llm.queue([{"content": "Let me tell you a long story. "}, {"hold": True}, {"content": "never"}])

    async def body(c: Client) -> None:
        first = await c.next_message("text")
        await c.send({"type": "stop"})
        end = await c.next_message("reply_end")
        assert end["status"] == "interrupted"
        assert end["text"] == "Let me tell you a long story."
        assert c.index(first) < c.index(end)
        assert await asyncio.to_thread(fake_llm.disconnected.wait, 20)

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "user_message", "text": "Tell me a story"})
            await body(c)

    run(main())


def test_a_stop_at_any_moment_after_reply_start_ends_the_reply(
    mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    """A stop that lands while the message is still being read (remembered, felt, counted) ends the reply
    like any other: reply_end `interrupted`, keeping what was shown, then idle; nothing hangs in `thinking`.
    The model holds its stream after a first sentence, so the reply cannot finish before the stop lands,
    wherever it lands (before the model was asked, or after its first sentence)."""
    fake_llm.queue(*[[{"content": "Maybe sent."}, {"hold": True}, {"content": " Never sent."}]] * 3)

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "user_message", "text": "Hello there, how are you today?"})
            start = await c.next_message("reply_start")
            await c.send({"type": "stop"})
            end = await c.next_message("reply_end", reply_id=start["reply_id"])
            assert end["status"] == "interrupted"
            shown = "".join(t["delta"] for t in c.of_type("text", start["reply_id"]))
            assert end["text"] == shown.strip() and "Never" not in end["text"]  # the partial text, kept
            await c.next_message("state", after=c.index(end), state="idle")

    for _ in range(3):
        asyncio.run(main())


def test_new_message_mid_reply_interrupts_then_answers(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "First answer begins"}, {"hold": True}], [{"content": "Second answer."}])

    async def body(c: Client) -> None:
        await c.send({"type": "user_message", "text": "one"})
        await c.next_message("text")
        await c.send({"type": "user_message", "text": "two"})
        second = await c.next_message("reply_end", status="complete")
        first = await c.next_message("reply_end", status="interrupted")
        assert first["reply_id"] < second["reply_id"]
        assert c.index(first) < c.index(second)
        assert first["text"] == "First answer begins" and second["text"] == "Second answer."
        # The interrupted turn stays in the history sent with the next request, marked as cut off.
        history = fake_llm.requests[-1]["messages"]
        assert history[-3:] == [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "First answer begins …"},
            {"role": "user", "content": "two"},
        ]

    with_client(mien, body)


def test_provider_failure_is_typed_and_the_next_message_works(
    mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    fake_llm.queue([{"content": "Half a "}, {"cut": True}], [{"status": 500}], [{"content": "Fine now."}])

    async def body(c: Client) -> None:
        await c.send({"type": "user_message", "text": "a"})
        end1 = await c.next_message("reply_end")
        assert end1["status"] == "error" and end1["text"] == "Half a"
        err = await c.next_message("error")
        assert err["code"] == "provider_error" and err["reply_id"] == end1["reply_id"]
        n = len(c.messages)
        await c.send({"type": "user_message", "text": "b"})
        end2 = await c.next_message("reply_end", after=n)
        assert end2["status"] == "error"
        n = len(c.messages)
        await c.send({"type": "user_message", "text": "c"})
        end3 = await c.next_message("reply_end", after=n)
        assert end3["status"] == "complete" and end3["text"] == "Fine now."

    with_client(mien, body)


BAD_INPUTS = [
    ("{oops", "bad_json"),
    ('{"type": "teleport"}', "unknown_type"),
    ('{"type": "user_message", "text": 42}', "invalid_message"),
    ('{"type": "set_emotion", "emotion": "joy", "intensity": NaN}', "out_of_range"),
    ('{"type": "set_emotion", "emotion": "joy", "intensity": -1}', "out_of_range"),
    ('{"type": "set_emotion", "emotion": "joy", "intensity": 7}', "out_of_range"),
    ('{"type": "set_gain", "emotion": "joy", "gain": Infinity}', "out_of_range"),
    ('{"type": "set_emotion", "emotion": "glee-ish", "intensity": 0.5}', "unknown_emotion"),
    ('{"type": "set_gain", "emotion": "nope", "gain": 1}', "unknown_emotion"),
    ('{"type": "user_message", "text": "' + "y" * 30000 + '"}', "too_large"),
    ("[" * 8000 + "]" * 8000, "bad_json"),  # deep enough to exhaust the parser's stack, under the size cap
    ('{"type": "set_emotion", "emotion": "joy", "intensity": true}', "invalid_message"),  # no number
]


def test_bad_input_gets_typed_errors_and_changes_nothing(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "Still here."}])

    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.frames_after(1)
        smile = INDEX["mouthSmileLeft"]
        for raw, code in BAD_INPUTS:
            n = len(c.messages)
            await c.send(raw)
            err = await c.next_message("error", after=n)
            assert err["code"] == code, raw[:60]
        n = len(c.messages)
        await c.send(b"\x00binary")  # type: ignore[arg-type]
        assert (await c.next_message("error", after=n))["code"] == "mic_off"  # binary is microphone audio
        frames = await c.frames_after(5)
        assert all(f[2][smile] < 0.05 for f in frames)  # no bad input reached the face
        await c.send({"type": "user_message", "text": "still alive?"})
        end = await c.next_message("reply_end")
        assert end["status"] == "complete" and end["text"] == "Still here."

    with_client(mien, body)


def test_one_sessions_failure_does_not_disturb_another(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"cut": True}], [{"content": "[joy] Hello B."}])

    async def main() -> None:
        async with Client(mien.ws_url) as a, Client(mien.ws_url) as b:
            ha, hb = await a.next_message("hello"), await b.next_message("hello")
            assert ha["session_id"] != hb["session_id"]
            await a.send("{garbage")
            await a.send({"type": "user_message", "text": "fail"})
            assert (await a.next_message("reply_end"))["status"] == "error"
            await b.send({"type": "user_message", "text": "hi"})
            end = await b.next_message("reply_end")
            assert end["status"] == "complete" and end["text"] == "Hello B."
            assert not b.of_type("error")
            assert not [m for m in a.of_type("emotion") if m["source"] == "tag"]  # B's joy never reached A

    run(main())


def test_hidden_page_pauses_frames(mien: LiveServer) -> None:
    """While the page is hidden no frame is sent, however long the face goes on: here it speaks a line, a
    second and more of its clock. Once visible, frames come again, their clock having gone on meanwhile."""

    async def body(c: Client) -> None:
        await c.frames_after(2)
        await c.send({"type": "set_voice", "enabled": True})
        await c.send({"type": "visibility", "hidden": True})
        # A round trip through the receive loop: once its error answer arrives, `hidden` is in effect.
        await c.send("{sync")
        await c.next_message("error")
        paused_at = len(c.frames)
        await c.send({"type": "speak", "text": "[joy] Hidden from view, but still talking for a while."})
        end = await c.next_message("reply_end")
        await c.next_message("state", after=c.index(end), state="idle")  # sent once the voice has sounded
        speech = c.of_type("speech", end["reply_id"])
        spoken_from, spoken_until = speech[0]["t_ms"], speech[-1]["t_ms"] + speech[-1]["duration_ms"]
        assert spoken_until - spoken_from >= 1000  # the face's clock ran on, by its own frames' t_ms
        # Not one frame of all that: at most one, already queued before the switch, and older than the line.
        while_hidden = c.frames[paused_at:]
        assert len(while_hidden) <= 1 and all(t_ms < spoken_from for _, t_ms, _ in while_hidden), [
            (seq, t_ms) for seq, t_ms, _ in while_hidden
        ]
        last_seq, last_t, _ = c.frames[-1]
        await c.send({"type": "visibility", "hidden": False})
        resumed = await c.frames_after(3)
        assert [seq for seq, _, _ in resumed] == sorted(seq for seq, _, _ in resumed)
        assert resumed[0][0] > last_seq
        assert resumed[0][1] - last_t >= spoken_until - spoken_from  # the clock went on while hidden

    with_client(mien, body)
