"""Persona files: the shipped ones load and differ; invalid files fail with file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.face import FaceRequests
from server.personas import load_personas
from server.reply.feelings import Inference
from server.reply.prompt import empathic_cue, prompt_for
from server.settings import ConfigError


def test_shipped_personas_load_and_differ_visibly() -> None:
    personas = load_personas()
    assert {"guide", "sceptic", "enthusiast"} <= set(personas)
    moods = {p.mood.emotion for p in personas.values()}
    levels = {p.expressiveness for p in personas.values()}
    assert len(moods) >= 2 and len(levels) == len(personas)
    assert all(p.greeting and p.prompt for p in personas.values())
    # Each persona sounds different; Mien itself keeps the server's voice (Piper unless configured).
    voices = {p.id: p.voice for p in personas.values()}
    assert voices["mien"] == "default" and len(set(voices.values())) == len(voices)
    assert all(v.startswith("piper") for k, v in voices.items() if k != "mien")  # offline, Piper quality


GOOD = 'name = "X"\nprompt = "Be X."\n'


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ('name = "X"\n', "prompt", "Field required"),
        (GOOD + 'mood = { emotion = "glee", intensity = 0.5 }\n', "mood.emotion", "unknown emotion"),
        (GOOD + 'mood = { emotion = "joy", intensity = 3 }\n', "mood.intensity", "less than or equal"),
        (GOOD + 'emotions = ["joy", "smugness"]\n', "emotions", "unknown emotions"),
        (GOOD + "expressiveness = -1\n", "expressiveness", "greater than or equal"),
        (GOOD + "colour = 'red'\n", "colour", "Extra inputs"),
        (GOOD + "voice = 'festival'\n", "voice", "unknown voice engine 'festival'"),
        (GOOD + "voice = 'piper:pitch=3'\n", "voice", "pitch=3 must be between 0.7 and 1.4"),
        (GOOD + "voice = 'espeak:xx-nowhere'\n", "voice", "espeak-ng has no voice 'xx-nowhere'"),
        (GOOD + "voice = 'litellm:alloy'\n", "voice", "litellm:MODEL:VOICE"),
        ('name = "X"\nprompt = \n', "(file)", "not valid TOML"),
    ],
)
def test_invalid_persona_names_file_field_and_reason(
    tmp_path: Path, body: str, field: str, reason: str
) -> None:
    (tmp_path / "bad.toml").write_text(body)
    with pytest.raises(ConfigError) as e:
        load_personas(tmp_path)
    message = str(e.value)
    assert "bad.toml" in message and reason in message
    if field != "(file)":
        assert f": {field}:" in message


def test_prompt_follows_the_face_the_user_asked_for() -> None:
    guide = load_personas()["guide"]
    plain = prompt_for(guide, FaceRequests())
    assert "[joy]" in plain and "[sadness]" in plain and guide.prompt.strip() in plain
    silenced = prompt_for(guide, FaceRequests(gains={"sadness": 0.0}))
    assert "[sadness]" not in silenced and "Do not express sadness" in silenced
    locked = prompt_for(guide, FaceRequests(controls={"mood_lock": 1.0}, mood=("joy", 0.5)))
    assert "steady joy tone" in locked and "[sadness]" not in locked and "[joy]" in locked
    vivid = prompt_for(guide, FaceRequests(gains={"joy": 2.0}))
    assert "show joy strongly" in vivid


def test_empathic_cue_mirrors_joy_and_answers_anger_with_concern() -> None:
    guide = load_personas()["guide"]
    joy, anger = (
        empathic_cue(Inference("joy", 0.9, {}), guide),
        empathic_cue(Inference("anger", 0.9, {}), guide),
    )
    assert joy is not None and (joy.emotion, joy.intensity, joy.source) == ("joy", 0.5, "empathy")
    assert anger is not None and (anger.emotion, anger.intensity) == ("sadness", 0.3)
    assert empathic_cue(None, guide) is None
