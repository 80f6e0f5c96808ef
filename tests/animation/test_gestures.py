"""The gesture layer: [nod]/[shake] swing the head far more than the same line untagged, additively,
yielding the jaw to speech and never fighting blinks."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from animation import gestures
from animation.arkit import HEAD_RANGE, INDEX, N_BLENDSHAPES
from animation.controls import CONTROLS
from animation.emotions import EMOTIONS
from animation.engine import MAX_GAIN, FaceBank
from server.events import Gesture
from server.reply.sentences import reply_events
from tests.animation.helpers import HEAD, run

YAW, PITCH = HEAD.start, HEAD.start + 1
LINE = "Yes, that is exactly what I meant to say."
SPACING = 0.09  # s per viseme key: the line takes about as long as spoken


def speak_line(tagged: str, seed: int = 3) -> np.ndarray:
    """Frames of one face saying LINE (as visemes) from t=1, with the gestures the reply's path gives it at
    their word's time (chars spread evenly over the line): the tags', or, untagged, those its words call
    for (server/reply/head_moves.py: "Yes, ..." nods by itself). The frames over the line's time."""

    async def chunks():  # type: ignore[no-untyped-def]
        yield tagged

    async def collect() -> list[object]:
        return [e async for e in reply_events(chunks(), classify=lambda _t: None)]

    events = asyncio.run(collect())
    bank = FaceBank(seed=seed)
    slot = bank.add(0.0)
    run(bank, 0.0, 1.0)
    bank.set_state(slot, "speaking")
    keys = ["PP", "aa", "E", "DD", "ih", "nn", "oh", "SS"] * 6
    duration = len(keys) * SPACING
    bank.visemes(slot, 1.0, np.arange(len(keys) + 1) * SPACING, [*keys, "sil"])
    for e in events:
        if isinstance(e, Gesture):
            bank.gesture(slot, e.gesture, 1.0 + duration * e.offset / len(LINE), e.intensity)
    _, frames = run(bank, 1.0, 1.0 + duration + 0.5)
    return frames[:, slot]


def swing(frames: np.ndarray, channel: int) -> float:
    """How far the head travels on one axis over the line (radians of path): a gesture's back-and-forth
    counts every swing, where the untagged line's head moves with sway, breathing and gaze shifts."""
    return float(np.abs(np.diff(frames[:, channel])).sum())


@pytest.mark.parametrize(("tag", "channel"), [("nod", PITCH), ("shake", YAW)])
@pytest.mark.parametrize("seed", range(8))
def test_nod_and_shake_swing_the_head_far_more_than_the_untagged_line(
    tag: str, channel: int, seed: int
) -> None:
    plain = speak_line(LINE, seed)
    tagged = speak_line(f"[{tag}] {LINE}", seed)
    assert swing(tagged, channel) >= 2.5 * swing(plain, channel)
    # Only the gesture differs: the mouth says the same line.
    assert np.allclose(tagged[:, INDEX["jawOpen"]], plain[:, INDEX["jawOpen"]], atol=1e-6)


def test_tilt_rolls_and_eyeroll_looks_up() -> None:
    plain, tilted = speak_line(LINE), speak_line(f"[tilt] {LINE}")
    assert np.abs(tilted[:, HEAD.start + 2]).max() > 0.1 > 2 * np.abs(plain[:, HEAD.start + 2]).max()
    rolled = speak_line(f"[eyeroll] {LINE}")
    up = INDEX["eyeLookUpLeft"]
    assert rolled[:, up].max() > plain[:, up].max() + 0.3


def test_wink_closes_one_eye_and_blinks_still_close_over_it() -> None:
    bank = FaceBank(seed=5)
    slot = bank.add(0.0)
    run(bank, 0.0, 1.0)
    bank.gesture(slot, "wink", 1.0)
    _, frames = run(bank, 1.0, 1.6)
    left, right = frames[:, slot, INDEX["eyeBlinkLeft"]], frames[:, slot, INDEX["eyeBlinkRight"]]
    assert left.max() > 0.95 and right.max() < left.max()
    assert np.all(frames[:, slot, :52] >= 0.0) and np.all(frames[:, slot, :52] <= 1.0)


def test_laugh_yields_the_jaw_to_speech_but_keeps_a_smile() -> None:
    plain = speak_line(LINE)
    laughing = speak_line(f"[laugh] {LINE}")
    smile = INDEX["mouthSmileLeft"]
    assert laughing[:, smile].max() > plain[:, smile].max() + 0.1
    # While the line is spoken, the laugh's jaw pulses are speech's to drop.
    speaking = slice(3, 30)
    assert np.abs(laughing[speaking, INDEX["jawOpen"]] - plain[speaking, INDEX["jawOpen"]]).max() < 0.05
    # Silent, the laugh opens the jaw in pulses.
    bank = FaceBank(seed=1)
    slot = bank.add(0.0)
    bank.gesture(slot, "laugh", 0.5)
    _, frames = run(bank, 0.0, 2.0)
    assert frames[:, slot, INDEX["jawOpen"]].max() > 0.25


def test_gestures_end_and_cleared_ones_never_start() -> None:
    bank = FaceBank(seed=2)
    slot = bank.add(0.0)
    bank.gesture(slot, "shake", 0.5)
    bank.gesture(slot, "nod", 5.0)
    bank.clear_gestures(slot, 1.0)  # the shake under way finishes; the nod never comes
    _, frames = run(bank, 0.0, 7.0)
    quiet = frames[int(2.0 * 30) :, slot]
    baseline = FaceBank(seed=2)
    base_slot = baseline.add(0.0)
    _, base = run(baseline, 0.0, 7.0)
    assert np.allclose(quiet, base[int(2.0 * 30) :, base_slot], atol=1e-6)
    assert not (bank._gestures.kind >= 0).any()


def test_bad_gestures_are_refused() -> None:
    bank = FaceBank(seed=0)
    slot = bank.add(0.0)
    with pytest.raises(ValueError, match="unknown gesture"):
        bank.gesture(slot, "backflip", 0.0)
    with pytest.raises(ValueError):
        bank.gesture(slot, "nod", 0.0, 1.5)
    assert gestures.resolve("Nods") == "nod" and gestures.resolve("cartwheel") is None


def test_a_beat_is_the_voices_own_a_brow_raise_and_a_dip_smaller_than_a_nod() -> None:
    # Not a tag the model can ask for, nor in hello.gestures; the face still makes it.
    assert "beat" in gestures.MOVES and "beat" not in gestures.GESTURES and gestures.resolve("beat") is None

    def frames(name: str | None) -> np.ndarray:
        bank = FaceBank(seed=4)
        slot = bank.add(0.0)
        run(bank, 0.0, 1.0)
        if name is not None:
            bank.gesture(slot, name, 1.0)
        return run(bank, 1.0, 2.5)[1][:, slot]

    plain, beat, nod = frames(None), frames("beat"), frames("nod")
    brow = [INDEX[c] for c in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight")]
    assert (beat[:, brow] - plain[:, brow]).max() > 0.2  # AU1+2
    dip = beat[:, HEAD.start + 1] - plain[:, HEAD.start + 1]
    assert 0.02 < dip.max() < 0.5 * (nod[:, HEAD.start + 1] - plain[:, HEAD.start + 1]).max()
    # Its apex (the end of its attack) is where the voice puts the stressed vowel: the dip peaks there.
    k = gestures.GESTURE_INDEX["beat"]
    apex = 1.0 + gestures.ATTACK[k]
    times = 1.0 + np.arange(1, len(dip) + 1) / 30
    assert abs(times[int(np.argmax(dip))] - apex) <= 0.1
    assert np.allclose(
        beat[times > 1.0 + gestures.DURATION[k] + 0.05], plain[times > 1.0 + gestures.DURATION[k] + 0.05]
    )


@pytest.mark.parametrize("emotion", [e for e in EMOTIONS if e != "neutral"])
def test_beats_on_any_face_keep_every_pose_in_the_rigs_range(emotion: str) -> None:
    """Beats (a spoken sentence's few, overlapping at worst) on top of an emotion's apex at the strongest
    controls and gains, with a nod and a shrug (brows too) under way: shapes stay in [0, 1], the head
    within HEAD_RANGE."""
    bank = FaceBank(capacity=1, seed=9)
    slot = bank.add(0.0)
    for control in CONTROLS:
        if control.name != "mood_lock":
            bank.set_control(slot, control.name, control.maximum)
    bank.set_gain(slot, emotion, MAX_GAIN)
    bank.cue(slot, emotion, 1.0, 0.0, hold=math.inf)
    bank.gesture(slot, "nod", 0.5)
    bank.gesture(slot, "shrug", 0.6)
    for t in (0.5, 0.7, 0.9, 1.1, 1.3):
        bank.gesture(slot, "beat", t, 1.0)
    _, frames = run(bank, 0.0, 2.5)
    shapes, head = frames[:, slot, :N_BLENDSHAPES], frames[:, slot, N_BLENDSHAPES:]
    assert np.all(np.isfinite(frames))
    assert shapes.min() >= 0.0 and shapes.max() <= 1.0
    assert np.abs(head).max() <= HEAD_RANGE


def test_a_full_face_drops_a_waiting_beat_first_then_the_latest() -> None:
    """A long reply's voice schedules sentences ahead: when every slot is taken, beats give way to the
    reply's gestures, and what comes soonest is kept."""
    bank = FaceBank(seed=0)
    slot = bank.add(0.0)
    beats = [1.0 + 0.5 * i for i in range(gestures.SLOTS)]
    for t in beats:
        bank.gesture(slot, "beat", t)
    bank.gesture(slot, "nod", 20.0)  # later than every beat, yet it stays: the latest beat goes
    g = bank._gestures
    names = {
        (gestures.MOVES[k], round(float(t), 2)) for k, t in zip(g.kind[slot], g.start[slot], strict=True)
    }
    assert ("nod", 20.0) in names and ("beat", beats[-1]) not in names and ("beat", beats[0]) in names
    bank.gesture(slot, "beat", 30.0)  # the latest and a beat: the most expendable, dropped
    assert 30.0 not in set(g.start[slot].tolist())
    for i in range(gestures.SLOTS):  # nods only now, the earliest kept
        bank.gesture(slot, "nod", 5.0 + i)
    assert set(gestures.MOVES[k] for k in g.kind[slot]) == {"nod"}
    bank.gesture(slot, "beat", 2.0)  # a beat never pushes a gesture out
    assert "beat" not in {gestures.MOVES[k] for k in g.kind[slot]}
    bank.gesture(slot, "shake", 3.0)  # an earlier gesture replaces the latest waiting one
    starts = sorted(g.start[slot].tolist())
    assert starts[0] == 3.0 and 20.0 not in starts
