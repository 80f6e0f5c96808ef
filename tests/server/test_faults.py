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


def test_a_locked_database_fails_the_reply_not_the_session(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "Back again."}])
    app = create_app(mien_settings(fake_llm, tmp_path), warm_up=False)
    with LiveServer(app) as live:

        async def main() -> None:
            async with Client(live.ws_url) as c:
                await c.next_message("hello")
                # Another process holds the conversation database's write lock (a real SQLite lock).
                other = sqlite3.connect(tmp_path / "conversations.sqlite3", isolation_level=None)
                other.execute("BEGIN EXCLUSIVE")
                await c.send({"type": "user_message", "text": "Will you remember this?"})
                end = await c.next_message("reply_end")
                assert end["status"] == "error"
                error = await c.next_message("error")
                assert error["code"] == "internal" and error["reply_id"] == end["reply_id"]
                await c.next_message("state", after=c.index(end), state="idle")
                other.execute("ROLLBACK")
                other.close()
                # Same socket, next message: the session never went away.
                await c.send({"type": "user_message", "text": "Hello again."})
                again = await c.next_message("reply_end", reply_id=end["reply_id"] + 1)
                assert again["status"] == "complete" and again["text"] == "Back again."
                assert not c.closed.is_set()

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
