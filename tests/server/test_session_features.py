"""Transcript tests for personas, controls, memory (resume after a restart), empathy and recording."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from animation.controls import CONTROLS
from server.app import create_app
from server.runner import LiveServer
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI


def test_hello_describes_controls_personas_and_emotions(mien: LiveServer) -> None:
    async def main() -> None:
        async with Client(mien.ws_url) as c:
            hello = await c.next_message("hello")
            assert [ctl["name"] for ctl in hello["controls"]] == [ctl.name for ctl in CONTROLS]
            assert hello["gain"]["maximum"] == 2.0
            assert [e["name"] for e in hello["emotion_info"]] == hello["emotions"]
            assert hello["persona"]["id"] == "mien" and {"guide", "sceptic", "enthusiast"} <= {
                p["id"] for p in hello["personas"]
            }
            assert hello["resumed"] is False

    asyncio.run(main())


def test_persona_is_chosen_by_query_and_shapes_the_prompt(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "[sadness] Hm. [contempt] Prove it."}])

    async def main() -> None:
        async with Client(mien.ws_url + "?persona=sceptic") as c:
            hello = await c.next_message("hello")
            assert hello["persona"]["name"] == "Sol"
            await c.send({"type": "user_message", "text": "The moon is made of cheese."})
            end = await c.next_message("reply_end")
            assert end["text"] == "Hm. Prove it."
            tags = [m["emotion"] for m in c.of_type("emotion", end["reply_id"]) if m["source"] == "tag"]
            assert tags == ["contempt"]  # Sol's persona never shows sadness
        system = fake_llm.requests[-1]["messages"][0]["content"]
        assert "You are Sol" in system and "[contempt]" in system and "[sadness]" not in system

    asyncio.run(main())


def test_unknown_persona_warns_and_falls_back(mien: LiveServer) -> None:
    async def main() -> None:
        async with Client(mien.ws_url + "?persona=pirate") as c:
            hello = await c.next_message("hello")
            err = await c.next_message("error")
            assert err["code"] == "unknown_persona" and hello["persona"]["id"] == "mien"

    asyncio.run(main())


def test_controls_validate_and_reach_the_prompt(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "Fine."}])

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.next_message("hello")
            for raw, code in [
                ({"type": "set_control", "name": "sparkle", "value": 1}, "unknown_control"),
                ({"type": "set_control", "name": "contrast", "value": 5}, "out_of_range"),
                ({"type": "set_control", "name": "max_emotions", "value": 2.5}, "out_of_range"),
                ({"type": "set_mood", "emotion": "glee", "intensity": 0.5}, "unknown_emotion"),
            ]:
                n = len(c.messages)
                await c.send(raw)
                assert (await c.next_message("error", after=n))["code"] == code
            await c.send({"type": "set_control", "name": "mood_lock", "value": 1})
            await c.send({"type": "set_mood", "emotion": "joy", "intensity": 0.4})
            await c.send({"type": "set_gain", "emotion": "anger", "gain": 0})
            await c.send({"type": "user_message", "text": "Hello"})
            await c.next_message("reply_end")
        system = fake_llm.requests[-1]["messages"][0]["content"]
        assert "steady joy tone" in system and "[anger]" not in system

    asyncio.run(main())


def test_user_message_gets_an_empathic_face_before_the_reply(
    mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    fake_llm.queue([{"content": "I'm so sorry."}])

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "user_message", "text": "My dog died yesterday and I miss him so much."})
            end = await c.next_message("reply_end")
            empathy = [m for m in c.of_type("emotion", end["reply_id"]) if m["source"] == "empathy"]
            assert empathy and empathy[0]["emotion"] == "sadness"
            first_text = c.of_type("text", end["reply_id"])[0]
            assert c.index(empathy[0]) < c.index(first_text)

    asyncio.run(main())


def test_conversation_resumes_after_a_server_restart(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "[joy] Nice to meet you, Ada."}], [{"content": "You are Ada."}])

    async def first() -> str:
        with LiveServer(create_app(mien_settings(fake_llm, tmp_path), warm_up=False)) as server:
            async with Client(server.ws_url + "?persona=enthusiast") as c:
                hello = await c.next_message("hello")
                await c.send({"type": "user_message", "text": "My name is Ada."})
                await c.next_message("reply_end")
                await c.next_message("state", after=len(c.messages) - 1, state="idle")
                return hello["session_id"]

    sid = asyncio.run(first())

    async def second() -> None:
        with LiveServer(create_app(mien_settings(fake_llm, tmp_path), warm_up=False)) as server:
            async with Client(f"{server.ws_url}?session={sid}") as c:
                hello = await c.next_message("hello")
                assert hello["session_id"] == sid and hello["resumed"] is True
                assert hello["persona"]["id"] == "enthusiast"  # the stored persona
                history = await c.next_message("history")
                assert [t["content"] for t in history["turns"]] == [
                    "My name is Ada.",
                    "Nice to meet you, Ada.",
                ]
                await c.send({"type": "user_message", "text": "What's my name?"})
                await c.next_message("reply_end")
                sent = fake_llm.requests[-1]["messages"]
                assert [m["content"] for m in sent[1:]] == [
                    "My name is Ada.",
                    "Nice to meet you, Ada.",
                    "What's my name?",
                ]
                n = len(c.messages)
                await c.send({"type": "export_history"})
                export = await c.next_message("history", after=n, reason="export")
                assert len(export["turns"]) == 4
                await c.send({"type": "clear_history"})
                cleared = await c.next_message("history", after=n, reason="clear")
                assert cleared["turns"] == []

    asyncio.run(second())


def test_scripted_lines_are_remembered_with_their_cues(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    """A greeting (a scripted line) is something the avatar said: a resumed chat shows it with its cue. The
    model learns of it as a line it was given, never as words of its own a client could plant."""
    fake_llm.queue([{"content": "Glad you asked."}])

    async def main() -> None:
        with LiveServer(create_app(mien_settings(fake_llm, tmp_path), warm_up=False)) as server:
            async with Client(server.ws_url) as c:
                sid = (await c.next_message("hello"))["session_id"]
                await c.send({"type": "speak", "text": "[joy:0.6] Hi, I'm Mien."})
                await c.next_message("reply_end")
            async with Client(f"{server.ws_url}?resume=1") as c:  # the id in the first message
                await c.send({"type": "resume", "session_id": sid})
                [turn] = (await c.next_message("history", reason="resume"))["turns"]
                said = (turn["role"], turn["content"], turn["status"])
                assert said == ("assistant", "Hi, I'm Mien.", "complete") and turn["scripted"] is True
                assert [(q["emotion"], q["intensity"]) for q in turn["cues"]] == [("joy", 0.6)]
                await c.send({"type": "user_message", "text": "Who are you?"})
                await c.next_message("reply_end")
        sent = fake_llm.requests[-1]["messages"]
        assert [(m["role"], m["content"]) for m in sent[1:]] == [
            ("system", '(The app had you say, word for word: "Hi, I\'m Mien.")'),
            ("user", "Who are you?"),
        ]
        assert not any(m["role"] == "assistant" for m in sent)

    asyncio.run(main())


def test_record_dir_gets_a_frame_track(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    record = tmp_path / "tracks"

    async def main() -> None:
        app = create_app(mien_settings(fake_llm, tmp_path, record_dir=str(record)), warm_up=False)
        with LiveServer(app) as server:
            async with Client(server.ws_url) as c:
                await c.send({"type": "speak", "text": "[joy] Recorded."})
                await c.next_message("reply_end")
                await c.frames_after(10)
        # Leaving the server waits for the session to finish, which writes the track.

    asyncio.run(main())
    (track_file,) = record.glob("*.json")
    track = json.loads(track_file.read_text())
    assert track["format"] == "mien-track" and len(track["channels"]) == 55
    assert len(track["times"]) >= 10 and len(track["weights"][0]) == 55
    smile = track["channels"].index("mouthSmileLeft")
    assert max(row[smile] for row in track["weights"]) > 0.3


def test_annotator_model_tags_plain_replies_word_by_word(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue(
        [{"content": "What a lovely day. "}, {"content": "See you soon."}],  # the reply: no tags
        [{"content": "What a [joy:0.8] lovely day."}],  # the annotator, sentence 1
        [{"content": "See you [sadness:0.4] soon, friend."}],  # sentence 2: words changed -> ignored
    )

    async def main() -> None:
        app = create_app(mien_settings(fake_llm, tmp_path, emotion_model="annotator"), warm_up=False)
        with LiveServer(app) as server:
            async with Client(server.ws_url) as c:
                await c.send({"type": "user_message", "text": "Bye!"})
                end = await c.next_message("reply_end")
                assert end["text"] == "What a lovely day. See you soon."
                cues = [m for m in c.of_type("emotion", end["reply_id"]) if m["source"] != "empathy"]
                annotated = [m for m in cues if m["source"] == "annotator"]
                assert [(m["emotion"], m["intensity"], m["offset"]) for m in annotated] == [("joy", 0.8, 7)]
                assert all(m["source"] != "annotator" or m["offset"] < 19 for m in cues)
        models = [r["model"] for r in fake_llm.requests]
        assert models == ["fake-model", "annotator", "annotator"]
        system = fake_llm.requests[1]["messages"][0]["content"]
        assert "Copy the user's text exactly" in system
        assert fake_llm.requests[1]["messages"][1]["content"] == "What a lovely day. "

    asyncio.run(main())


def test_a_session_resumes_from_its_first_message_not_its_url(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """`?resume=1` then `resume` first: the id never appears in a URL. Anything else first is a typed error
    and a new session; `resume` later in a session is refused and changes nothing."""
    fake_llm.queue([{"content": "Noted, Ada."}])

    async def main() -> None:
        with LiveServer(create_app(mien_settings(fake_llm, tmp_path), warm_up=False)) as server:
            async with Client(server.ws_url) as c:
                sid = (await c.next_message("hello"))["session_id"]
                await c.send({"type": "user_message", "text": "I'm Ada."})
                await c.next_message("reply_end")
                await c.send({"type": "resume", "session_id": sid})
                assert (await c.next_message("error"))["code"] == "invalid_message"
            async with Client(server.ws_url + "?resume=1") as c:
                await c.send({"type": "resume", "session_id": sid})
                hello = await c.next_message("hello")
                assert hello["resumed"] is True and hello["session_id"] == sid and c.index(hello) == 0
                history = await c.next_message("history")
                assert [t["content"] for t in history["turns"]] == ["I'm Ada.", "Noted, Ada."]
            async with Client(server.ws_url + "?resume=1") as c:
                await c.send({"type": "typing", "active": True})
                error = await c.next_message("error")
                hello = await c.next_message("hello")
                assert error["code"] == "invalid_message" and c.index(error) < c.index(hello)
                assert hello["resumed"] is False and hello["session_id"] != sid
            async with Client(server.ws_url + "?resume=1") as c:
                await c.send({"type": "resume", "session_id": "0123456789abcdef"})  # no such session
                hello = await c.next_message("hello")
                assert hello["resumed"] is False and hello["session_id"] != "0123456789abcdef"

    asyncio.run(main())
