"""`mien chat` speaks the protocol to a real server and prints the streamed reply."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from server.runner import LiveServer
from tests.fakes.openai_server import ScriptedOpenAI


def chat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "chat", *args], capture_output=True, text=True, timeout=120
    )


def test_chat_json_prints_one_event_per_line(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "[joy] Con"}, {"content": "gratulations!"}])
    result = chat("--url", mien.ws_url, "--json", "Hello, I just got great news!")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "hello" and kinds[-1] == "reply_end"
    assert events[-1]["status"] == "complete" and events[-1]["text"] == "Congratulations!"
    cue = next(e for e in events if e["type"] == "emotion" and e["source"] == "tag")
    assert cue["emotion"] == "joy" and cue["offset"] == 0
    assert events.index(cue) < kinds.index("text")
    assert "state" in kinds


def test_chat_plain_text_and_error_exit(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue([{"content": "Plain [surprise] reply."}], [{"status": 500}])
    ok = chat("--url", mien.ws_url, "hi")
    assert ok.returncode == 0 and "Plain" in ok.stdout and "⟨surprise" in ok.stdout
    failed = chat("--url", mien.ws_url, "hi")
    assert failed.returncode == 1 and "provider_error" in failed.stderr


def test_chat_reports_an_unreachable_server() -> None:
    result = chat("--url", "ws://127.0.0.1:9/ws", "hi")
    assert result.returncode == 2 and "cannot reach" in result.stderr


def test_emotion_reads_lines_and_prints_json_profiles() -> None:
    lines = "I'm absolutely furious with you!\nThe train leaves at nine.\n\nWow, I never expected that!\n"
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "emotion"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == [
        "I'm absolutely furious with you!",
        "The train leaves at nine.",
        "Wow, I never expected that!",
    ]
    top = [max(r["emotions"], key=r["emotions"].__getitem__) for r in rows]
    assert top == ["anger", "neutral", "surprise"]
    assert rows[0]["valence"] < 0 < rows[0]["arousal"] and abs(rows[1]["valence"]) < 0.3
    assert all(-1 <= r["valence"] <= 1 and -1 <= r["arousal"] <= 1 for r in rows)


def test_chat_audio_says_a_recording_instead(mien: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    """The recording goes in as a microphone's audio, in real time; its transcript, then the reply."""
    fake_llm.queue([{"content": "[sadness] I'll try again later."}])
    speech = Path(__file__).parent / "data" / "speech" / "please-try-call-later.flac"
    result = chat("--url", mien.ws_url, "--audio", str(speech))
    assert result.returncode == 0, result.stderr
    heard, reply = result.stdout.splitlines()[:2]
    assert heard.lower().startswith("you said: please try your call again later")
    assert "I'll try again later." in reply
    assert fake_llm.requests[-1]["messages"][-1]["content"].lower().startswith("please try your call")
    both = chat("--url", mien.ws_url, "--audio", str(speech), "hello")
    assert both.returncode == 2 and "MESSAGE (with --image FILE if you like) or --audio FILE" in both.stderr
