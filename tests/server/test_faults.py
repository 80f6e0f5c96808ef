"""Faults inside one reply stay inside it: the session lives on, the client is told, the state comes back to
idle at once (counted in frames, the animation's own time)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from server.app import create_app
from server.runner import LiveServer
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI
from tests.fakes.process import MienProcess


def test_a_locked_database_holds_the_turns_and_writes_them_when_it_is_free(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """SQLite's "database is locked" is an outage, not a failure: the reply streams whole, the user is told
    once that the conversation is not being saved, and once the lock is gone every held turn is written,
    in order."""
    fake_llm.queue([{"content": "I will."}], [{"content": "Back again."}])
    app = create_app(mien_settings(fake_llm, tmp_path), warm_up=False)
    store = app.state.services.store
    with LiveServer(app) as live:

        async def main() -> None:
            async with Client(live.ws_url) as c:
                sid = (await c.next_message("hello"))["session_id"]
                # Another process holds the conversation database's write lock (a real SQLite lock).
                other = sqlite3.connect(tmp_path / "conversations.sqlite3", isolation_level=None)
                other.execute("BEGIN EXCLUSIVE")
                await c.send({"type": "user_message", "text": "Will you remember this?"})
                end = await c.next_message("reply_end")
                assert end["status"] == "complete" and end["text"] == "I will."
                error = await c.next_message("error")
                assert error["code"] == "not_saved" and error["reply_id"] == end["reply_id"]
                assert c.index(error) < c.index(end)  # told before the reply ends
                await c.next_message("state", after=c.index(end), state="idle")
                other.execute("ROLLBACK")
                other.close()
                # Same socket, next message: the held turns are written first, then the new ones.
                await c.send({"type": "user_message", "text": "Hello again."})
                again = await c.next_message("reply_end", reply_id=end["reply_id"] + 1)
                assert again["status"] == "complete" and again["text"] == "Back again."
                assert [e["code"] for e in c.of_type("error")] == ["not_saved"]  # once per outage
                assert not c.closed.is_set()

            stored = live.call(store.turns(sid))
            assert [(t.role, t.content) for t in stored] == [
                ("user", "Will you remember this?"),
                ("assistant", "I will."),
                ("user", "Hello again."),
                ("assistant", "Back again."),
            ]

        asyncio.run(main())


def test_a_failed_spoken_reply_goes_idle_at_once(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    """The provider breaks off after the first sentence, which the voice is saying: the voice stops, and
    the face is idle right after reply_end, not when the cut sentence would have finished."""
    first = "This first sentence is long enough to take a few seconds to say. "
    fake_llm.queue([{"content": first + "And"}, {"hold": True}, {"cut": True}])  # "And": the end is known

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "user_message", "text": "Talk to me."})
            speech = await c.next_message("speech")
            fake_llm.release()  # now the provider breaks off
            end = await c.next_message("reply_end")
            assert end["status"] == "error"
            idle = await c.next_message("state", after=c.index(end), state="idle")
            assert speech["duration_ms"] > 2000  # still sounding when the reply ended
            frames_between = c.frames_before[c.index(idle)] - c.frames_before[c.index(end)]
            assert frames_between <= 2

    asyncio.run(main())


def test_a_server_killed_mid_reply_resumes_and_says_the_reply_was_lost(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """SIGKILL mid-reply: nothing can be saved then. After the restart the conversation resumes with every
    stored turn; the reply in flight is the only loss, and the user is told to send that message again."""
    fake_llm.queue(
        [{"content": "First."}], [{"content": "Half of it"}, {"hold": True}], [{"content": "Again."}]
    )
    data = tmp_path / "data"
    server = MienProcess(fake_llm, data).start()
    url = server.url
    try:

        async def before() -> str:
            async with Client(url) as c:
                sid = (await c.next_message("hello"))["session_id"]
                await c.send({"type": "user_message", "text": "One"})
                await c.next_message("reply_end")
                await c.send({"type": "user_message", "text": "Two"})
                await c.next_message("text", after=c.index(c.of_type("reply_end")[-1]))
                server.kill()  # SIGKILL, mid-reply
                await asyncio.wait_for(c.closed.wait(), 30)
                return str(sid)

        sid = asyncio.run(before())
        fake_llm.release()
        server = MienProcess(fake_llm, data, port=server.port).start()

        async def after() -> None:
            async with Client(f"{url}?session={sid}") as c:
                assert (await c.next_message("hello"))["resumed"] is True
                history = await c.next_message("history")
                assert [(t["role"], t["content"]) for t in history["turns"]] == [
                    ("user", "One"),
                    ("assistant", "First."),
                    ("user", "Two"),
                ]
                lost = await c.next_message("error")
                assert lost["code"] == "reply_lost" and c.index(lost) > c.index(history)
                await c.send({"type": "user_message", "text": "Two"})
                assert (await c.next_message("reply_end"))["text"] == "Again."

        asyncio.run(after())
    finally:
        server.kill()


def test_a_full_database_holds_the_reply_until_there_is_room(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """SQLite's "database or disk is full" (a page cap stands in for a full disk): the reply that could not
    be stored is held (the user told, `not_saved`), and once there is room the same session writes it."""
    fake_llm.queue([{"content": "Fine."}], [{"content": "Too much to keep. " * 3000}], [{"content": "Kept."}])
    app = create_app(mien_settings(fake_llm, tmp_path), warm_up=False)
    store = app.state.services.store
    with LiveServer(app) as live:

        def cap(pages: int | None) -> None:
            def set_cap(db: sqlite3.Connection) -> None:
                now = db.execute("PRAGMA page_count").fetchone()[0]
                db.execute(f"PRAGMA max_page_count = {now if pages is None else pages}")

            live.call(store._run(set_cap))

        async def main() -> None:
            async with Client(live.ws_url) as c:
                sid = (await c.next_message("hello"))["session_id"]
                await c.send({"type": "user_message", "text": "First, a short one."})
                end = await c.next_message("reply_end")  # the session's row and first turns exist now
                cap(None)  # no page more than it has now
                n = len(c.messages)
                await c.send({"type": "user_message", "text": "Now something long."})
                end = await c.next_message("reply_end", after=n)
                error = await c.next_message("error", after=n)
                assert end["status"] == "complete" and error["code"] == "not_saved"
                assert error["reply_id"] == end["reply_id"]
                cap(1 << 30)
                n = len(c.messages)
                await c.send({"type": "user_message", "text": "And now?"})
                again = await c.next_message("reply_end", after=n)
                assert again["status"] == "complete" and again["text"] == "Kept."
            stored = [t.content[:20] for t in live.call(store.turns(sid))]
            assert stored == [
                "First, a short one.",
                "Fine.",
                "Now something long.",
                "Too much to keep. To",
                "And now?",
                "Kept.",
            ]

        asyncio.run(main())
