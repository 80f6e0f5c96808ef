"""A reply's gestures are remembered with its turn (issue 16): a resumed chat's `history` shows them again,
as the `gesture` messages gave them, and so does an export."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.app import create_app
from server.runner import LiveServer
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI


def test_a_resumed_chat_shows_the_replys_gestures(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "[nod] Sure, I can. No, not that one. *shrugs* Maybe later."}])

    async def main() -> None:
        with LiveServer(create_app(mien_settings(fake_llm, tmp_path), warm_up=False)) as server:
            async with Client(server.ws_url) as c:
                sid = (await c.next_message("hello"))["session_id"]
                await c.send({"type": "user_message", "text": "Can you help?"})
                end = await c.next_message("reply_end")
                live = [
                    {k: g[k] for k in ("gesture", "intensity", "offset", "source")}
                    for g in c.of_type("gesture", end["reply_id"])
                ]
            assert [g["source"] for g in live] == ["tag", "inferred", "stage"]  # the model's and inferred
            async with Client(f"{server.ws_url}?resume=1") as c:
                await c.send({"type": "resume", "session_id": sid})
                user, reply = (await c.next_message("history", reason="resume"))["turns"]
                assert user["gestures"] == [] and reply["content"] == end["text"]
                assert reply["gestures"] == live
                await c.send({"type": "export_history"})
                export = await c.next_message("history", reason="export")
                assert export["turns"][1]["gestures"] == live

    asyncio.run(main())
