"""Talking to Mien over the websocket: mic frames in, turns, transcripts, replies and barge-in, on a real
uvicorn server, with real recorded speech (tests/server/data/speech) and the avatar's own voice."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import numpy as np
import soundfile
from prometheus_client import REGISTRY

from animation.arkit import INDEX
from server.app import create_app
from server.hearing import asr, endpoint
from server.hearing.ear import Ear, read_audio, resample
from server.hearing.turns import TurnEnded, TurnRules
from server.protocol.frames import encode_mic, pcm16
from server.runner import LiveServer
from server.session.recognition import FINAL_THREADS
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI

SPEECH = Path(__file__).parent / "data" / "speech"
RATE = 16_000
QUIET = np.zeros(RATE // 2, np.float32)
TEXTS = dict(line.split("\t") for line in (SPEECH / "transcripts.tsv").read_text().splitlines()[1:])


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


async def stream(c: Client, audio: np.ndarray, seq: int = 0) -> int:
    """As a browser's worklet sends it: 20 ms pieces of 16-bit audio (faster than real time: the server
    hears by the samples' count, not the clock)."""
    pcm = pcm16(audio)
    for i in range(0, len(pcm), 320):
        await c.send(encode_mic(seq, pcm[i : i + 320]))
        seq += 1
    return seq


def run(fake_llm: ScriptedOpenAI, tmp_path: Path, body, **settings: object) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        app = create_app(mien_settings(fake_llm, tmp_path, **settings), warm_up=False)
        with LiveServer(app) as server:
            async with Client(server.ws_url) as c:
                await body(c)

    asyncio.run(main())


def test_what_the_user_says_is_transcribed_and_answered(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "[surprise] Weasels? Really?"}])

    async def body(c: Client) -> None:
        hello = await c.next_message("hello")
        assert hello["protocol"] >= 2 and hello["speech_input"]["available"] is True
        await c.send({"type": "listen", "mode": "auto"})
        speech = read_audio(SPEECH / "tt-weasels.flac")
        await stream(c, np.concatenate([QUIET, speech, np.zeros(2 * RATE, np.float32)]))
        start = await c.next_message("speech_start")
        assert abs(start["at_ms"] - 500) < 200  # where the speech is in the stream, not when it arrived
        listening = await c.next_message("state", after=c.index(start), state="listening")
        final = await c.next_message("transcript", final=True)
        assert words(final["text"]) == ["weasels", "have", "eaten", "our", "phone", "system"]
        assert final["words"][0]["start_ms"] < 1000 < final["words"][-1]["end_ms"]
        end = await c.next_message("speech_end")
        assert c.index(listening) < c.index(end) < c.index(final)
        assert end["reason"] in ("judged", "silence")
        reply = await c.next_message("reply_end")
        assert reply["status"] == "complete" and reply["text"] == "Weasels? Really?"
        assert c.index(final) < c.index(await c.next_message("reply_start"))
        await c.send({"type": "export_history"})
        turns = (await c.next_message("history", reason="export"))["turns"]
        assert turns[0] == {**turns[0], "role": "user", "content": final["text"]}  # kept as text, no audio

    run(fake_llm, tmp_path, body)
    sent = fake_llm.requests[-1]["messages"][-1]
    assert sent["role"] == "user" and "Weasels have eaten" in sent["content"]


def test_noise_is_no_turn_and_bad_audio_gets_typed_errors(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "Still listening."}])

    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.send(encode_mic(0, np.zeros(320, np.int16)))
        assert (await c.next_message("error"))["code"] == "mic_off"
        await c.send({"type": "listen", "mode": "auto"})
        n = len(c.messages)
        kind_5, odd_length = b"\x05\x00\x00\x00\x00\x00", b"\x03\x00\x00\x00\x00\x00\x01"
        for bad in (kind_5, odd_length, encode_mic(1, np.zeros(9000))):
            await c.send(bad)
        errors = [await c.next_message("error", after=n)]
        while len(errors) < 3:
            errors.append(await c.next_message("error", after=c.index(errors[-1]) + 1))
        assert [e["code"] for e in errors] == ["bad_audio"] * 3
        rng = np.random.default_rng(3)
        await stream(c, (rng.normal(0, 0.02, 3 * RATE)).astype(np.float32))  # hiss: no voice in it
        await c.send({"type": "listen", "mode": "off"})
        await c.send({"type": "user_message", "text": "hello?"})
        assert (await c.next_message("reply_end"))["text"] == "Still listening."
        assert not c.of_type("speech_start") and not c.of_type("transcript")

    run(fake_llm, tmp_path, body)


def test_push_to_talk_ends_the_turn_when_the_mic_closes(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "Sorry to hear."}])

    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.send({"type": "listen", "mode": "push"})
        # A thinking pause longer than any hands-free turn waits for (hold_ms, 2 s) inside the press: held,
        # it is still one turn, which ends only at the release.
        thinking = np.zeros(int(RATE * 2.5), np.float32)
        first, second = (read_audio(SPEECH / f) for f in ("dir-nomatch.flac", "please-try-call-later.flac"))
        await stream(c, np.concatenate([QUIET, first, thinking, second, thinking]))
        await c.send({"type": "listen", "mode": "off"})  # heard after all the audio before it
        end = await c.next_message("speech_end")
        assert end["reason"] == "mic" and len(c.of_type("speech_start")) == 1  # no pause ended it
        final = await c.next_message("transcript", final=True)
        said = words("No directory entries match your search. Please try your call again later.")
        assert words(final["text"]) == said
        await c.next_message("reply_end")

    run(fake_llm, tmp_path, body)


def test_speech_input_off_says_why(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    async def body(c: Client) -> None:
        info = (await c.next_message("hello"))["speech_input"]
        assert info["available"] is False and "off" in info["reason"]
        await c.send({"type": "listen", "mode": "auto"})
        assert (await c.next_message("error"))["code"] == "speech_unavailable"

    run(fake_llm, tmp_path, body, speech_input=False)


LINE = "[joy] I have been thinking about gardens all morning, and about the way tomatoes ripen in the sun."


async def speaking(c: Client) -> dict[str, object]:
    """Voice on, a long scripted line: its first sentence's speech message (the avatar is talking)."""
    await c.next_message("hello")
    await c.send({"type": "set_voice", "enabled": True})
    await c.send({"type": "listen", "mode": "auto"})
    await c.send({"type": "speak", "text": LINE})
    return await c.next_message("speech")


def test_talking_over_the_avatar_stops_it(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "Oh no, not the weasels."}])

    async def body(c: Client) -> None:
        speech = await speaking(c)
        await stream(c, np.concatenate([QUIET, read_audio(SPEECH / "tt-weasels.flac"), np.zeros(2 * RATE)]))
        duck = await c.next_message("barge_in", action="duck")
        stop = await c.next_message("barge_in", action="stop")
        assert duck["reply_id"] == stop["reply_id"] == speech["reply_id"]
        ended = await c.next_message("reply_end", reply_id=speech["reply_id"])
        assert ended["status"] == "interrupted"
        final = await c.next_message("transcript", final=True)
        assert "weasels" in words(final["text"])
        answer = await c.next_message("reply_end", reply_id=speech["reply_id"] + 1)
        assert answer["text"] == "Oh no, not the weasels."

    run(fake_llm, tmp_path, body)


def test_the_avatars_own_voice_heard_back_does_not_stop_it(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    """The reply's audio comes back into the microphone (speakers, no headphones), quieter and late, as an
    echo canceller leaves it: ducked at once, then resumed; the reply completes; nothing is sent."""

    async def body(c: Client) -> None:
        speech = await speaking(c)
        await c.wait_for(lambda c: c.audio, "the reply's audio")
        voice, rate = soundfile.read(io.BytesIO(c.audio[0][2]), dtype="float32")
        echo = 0.3 * resample(voice, rate)
        await stream(c, np.concatenate([np.zeros(RATE // 4, np.float32), echo, np.zeros(2 * RATE)]))
        await c.next_message("speech_start")
        ended = await c.next_message("reply_end", reply_id=speech["reply_id"])
        assert ended["status"] == "complete"
        assert not c.of_type("barge_in") or c.of_type("barge_in")[-1]["action"] == "resume"
        assert not [b for b in c.of_type("barge_in") if b["action"] == "stop"]
        await c.next_message("transcript", final=True)
        assert len(c.of_type("reply_start")) == 1  # the echo became no message of the user's

    run(fake_llm, tmp_path, body)


async def stream_live(c: Client, audio: np.ndarray, seq: int = 0) -> int:
    """As a microphone sends it, in real time: 100 ms pieces, each when its last sample would have been
    heard (the face's frames are in real time; only this clock makes them line up with the speech)."""
    pcm, loop = pcm16(audio), asyncio.get_running_loop()
    start = loop.time()
    for i in range(0, len(pcm), 1600):
        await c.send(encode_mic(seq, pcm[i : i + 1600]))
        seq += 1
        await asyncio.sleep(max(0.0, start + (i + 1600) / RATE - loop.time()))
    return seq


def test_the_listening_face_follows_the_users_loudness(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    """While the user speaks the face listens: its brows move with the user's emphasis (the frames show
    it), and stay still in the silence before."""
    fake_llm.queue([{"content": "Noted."}])
    brow = INDEX["browInnerUp"]

    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.send({"type": "listen", "mode": "auto"})
        speech = read_audio(SPEECH / "followme-sorry.flac")
        await stream_live(c, np.concatenate([np.zeros(RATE, np.float32), speech, np.zeros(RATE, np.float32)]))
        start = await c.next_message("speech_start")
        listening = await c.next_message("state", after=c.index(start), state="listening")
        end = await c.next_message("speech_end")
        await c.next_message("reply_end")
        at = [c.frames_before[c.index(m)] for m in (start, listening, end)]
        silence = np.array([f[2][brow] for f in c.frames[: at[0]]])
        spoken = np.array([f[2][brow] for f in c.frames[at[1] : at[2]]])
        assert len(silence) > 10 and len(spoken) > 30  # ~1 s of silence, ~4 s of speech at 30 fps
        assert np.ptp(silence) == 0.0  # nobody speaking: the brows are still
        assert spoken.max() > silence.max() + 0.05  # raised on the user's emphasis
        assert len(np.unique(spoken)) > 10 and np.ptp(spoken) > 0.05  # and moving with it, not held

    run(fake_llm, tmp_path, body)


def guesses() -> dict[str, float]:
    """Final transcripts started at a pause, by outcome (the server runs in this process)."""
    sample = REGISTRY.get_sample_value
    return {o: sample("mien_hearing_guesses_total", {"outcome": o}) or 0.0 for o in ("used", "stale")}


def test_a_judged_turn_ends_with_the_transcript_started_at_its_pause(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """The final transcript starts while the end-of-turn model is still asked (Whisper takes longer than
    the judge): the turn it ends is the same audio, so the same words, transcribed once."""
    fake_llm.queue([{"content": "Weasels again."}])
    audio = np.concatenate([QUIET, read_audio(SPEECH / "tt-weasels.flac"), np.zeros(2 * RATE, np.float32)])
    ear = Ear(judge=endpoint.default())  # what the server's hearing makes of the same stream, offline
    (turn,) = [
        e for i in range(0, len(audio), 320) for e in ear.feed(audio[i : i + 320]) if isinstance(e, TurnEnded)
    ]
    expected = asr.transcribe(turn.audio, threads=FINAL_THREADS)
    before = guesses()

    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.send({"type": "listen", "mode": "auto"})
        await stream(c, audio)
        end = await c.next_message("speech_end")
        final = await c.next_message("transcript", final=True)
        assert end["reason"] == "judged" and end["at_ms"] == turn.speech_end * 1000 // RATE
        assert final["text"] == expected.text and words(final["text"]) == words(TEXTS["tt-weasels.flac"])
        assert [w["word"] for w in final["words"]] == [w.word for w in expected.words]
        await c.next_message("reply_end")

    run(fake_llm, tmp_path, body)
    after = guesses()
    assert after["used"] == before["used"] + 1  # the final was the guess's, not a second recognition


def test_speech_after_the_pause_makes_the_guess_stale(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    """'I'm sorry, but I was unable | 400 ms | to locate the person you are calling': the pause is long
    enough for a guess and for the judge (which hears an unfinished thought), and the user goes on: the
    guess is thrown away, and the final transcript has both halves."""
    fake_llm.queue([{"content": "No worries."}])
    speech = read_audio(SPEECH / "followme-sorry.flac")
    level = np.convolve(np.abs(speech), np.ones(800) / 800, "same")
    middle = len(speech) // 2
    cut = middle - 4000 + int(np.argmin(level[middle - 4000 : middle + 4000]))  # between two words
    gap = np.zeros(int(0.4 * RATE), np.float32)
    rules = TurnRules()
    assert rules.guess_ms < rules.judge_ms < 400 < rules.end_ms  # guessed and judged, not ended by silence
    assert endpoint.finished(speech[:cut]) < 0.5  # the judge hears the first half as unfinished
    before = guesses()

    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.send({"type": "listen", "mode": "auto"})
        await stream(c, np.concatenate([QUIET, speech[:cut], gap, speech[cut:], np.zeros(2 * RATE)]))
        final = await c.next_message("transcript", final=True)
        heard = words(final["text"])
        assert heard[:2] == ["i'm", "sorry"] and heard[-1] == "calling"  # not the first half's guess
        await c.next_message("reply_end")
        assert len(c.of_type("speech_start")) == 1 and len(c.of_type("speech_end")) == 1  # one turn

    run(fake_llm, tmp_path, body)
    assert guesses()["stale"] >= before["stale"] + 1


def test_the_users_words_feed_the_listening_expression_as_they_are_recognised(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """A partial transcript is read like a typed message: "Weasels have eaten…" reads as disgust, and the
    listening face shows its empathic expression (a nose wrinkle, AU9) while the user still speaks, before
    the final transcript: the frames show it."""
    fake_llm.queue([{"content": "Oh no."}])
    sneer = INDEX["noseSneerLeft"]

    async def body(c: Client) -> None:
        await c.next_message("hello")
        await c.send({"type": "listen", "mode": "auto"})
        speech = read_audio(SPEECH / "tt-weasels.flac")
        await stream_live(
            c, np.concatenate([np.zeros(RATE // 2, np.float32), speech, np.zeros(RATE, np.float32)])
        )
        start = await c.next_message("speech_start")
        partial = await c.next_message("transcript", final=False)
        final = await c.next_message("transcript", final=True)
        assert "weasels" in words(partial["text"])
        before = [f[2][sneer] for f in c.frames[: c.frames_before[c.index(start)]]]
        listening = [
            f[2][sneer] for f in c.frames[c.frames_before[c.index(partial)] : c.frames_before[c.index(final)]]
        ]
        assert before and listening and max(listening) > max(before) + 0.05
        await c.next_message("reply_end")

    run(fake_llm, tmp_path, body)
