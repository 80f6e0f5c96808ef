"""Gestures over a real server: `hello` names them, a reply's `gesture` messages arrive in order with the
text they precede, and with the voice on the head moves at the audio time of the gesture's word."""

from __future__ import annotations

import asyncio

import numpy as np

from animation.arkit import INDEX
from animation.gestures import GESTURES
from server.runner import LiveServer
from server.voice.beats import LEAD
from tests.fakes.client import Client
from tests.fakes.openai_server import ScriptedOpenAI

YAW = INDEX["headYaw"]


def test_gesture_messages_arrive_in_order(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue(
        [{"content": "[nod] Yes, exa"}, {"content": "ctly. *shakes he"}, {"content": "ad* Not that one."}]
    )

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            hello = await c.next_message("hello")
            assert hello["gestures"] == list(GESTURES) and "nod" in hello["gestures"]
            await c.send({"type": "user_message", "text": "Is it the blue one?"})
            end = await c.next_message("reply_end")
            rid = end["reply_id"]
            assert end["text"] == "Yes, exactly. Not that one."
            gestures = c.of_type("gesture", rid)
            assert [(g["gesture"], g["offset"], g["source"]) for g in gestures] == [
                ("nod", 0, "tag"),
                ("shake", end["text"].index("Not"), "stage"),
            ]
            texts = c.of_type("text", rid)
            start = c.of_type("reply_start", rid)[0]
            # Each gesture comes before the text it precedes, after the text before it.
            assert c.index(start) < c.index(gestures[0]) < c.index(texts[0])
            before = [t for t in texts if t["offset"] < gestures[1]["offset"]]
            after = [t for t in texts if t["offset"] + len(t["delta"]) > gestures[1]["offset"]]
            assert c.index(before[-1]) < c.index(gestures[1]) <= c.index(after[-1]) < c.index(end)

    asyncio.run(main())


def test_spoken_gesture_moves_the_head_at_its_word(mien: LiveServer) -> None:
    text = "I see what you mean, and I thought about it. Well [shake] no, that is not right at all."

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.next_message("hello")
            await c.send({"type": "set_voice", "enabled": True})
            await c.send({"type": "speak", "text": text})
            end = await c.next_message("reply_end")
            gestures = c.of_type("gesture", end["reply_id"])
            # The first sentence's words ("I see") call for a nod of their own: a pitch, not a yaw.
            assert [(g["gesture"], g["source"]) for g in gestures] == [("nod", "inferred"), ("shake", "tag")]
            gesture = gestures[1]
            speech = c.of_type("speech", end["reply_id"])
            words = [w for s in speech for w in s["words"]]
            t_word = next(w["t_ms"] for w in words if w["offset"] == gesture["offset"])
            # Each speech message says when its gestures happen: at their words' audio times.
            timed = [
                (g["gesture"], g["offset"], g["t_ms"])
                for s in speech
                for g in s["gestures"]
                if g["source"] != "beat"  # and the voice's own beats around them
            ]
            t_first = next(w["t_ms"] for w in words if w["offset"] >= gestures[0]["offset"])
            assert timed == [("nod", gestures[0]["offset"], t_first), ("shake", gesture["offset"], t_word)]
            # Piper's stresses give beats on the phrases' accents, apex within the stressed word, never on
            # the gestures' words ("thought" and "all" here).
            beats = [g for s in speech for g in s["gestures"] if g["source"] == "beat"]
            spans = {w["offset"]: (w["t_ms"], w["end_ms"]) for w in words}
            assert [end["text"][b["offset"] :].split()[0] for b in beats] == ["thought", "all."]
            for b in beats:
                start, stop = spans[b["offset"]]
                assert start <= b["t_ms"] + round(1000 * LEAD) <= stop
            await c.wait_for(lambda cl: cl.frames and cl.frames[-1][1] > t_word + 1500, "the shake to pass")
            t = np.array([f[1] for f in c.frames])
            yaw = np.array([f[2][YAW] for f in c.frames])

            def travel(a: float, b: float) -> float:
                inside = (t >= a) & (t < b)
                return float(np.abs(np.diff(yaw[inside])).sum())

            # The head shakes once the word sounds, not when the text arrived (seconds earlier).
            assert travel(t_word, t_word + 1100) >= 2.5 * travel(t_word - 1100, t_word)

    asyncio.run(main())
