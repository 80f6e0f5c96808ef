"""Expressions that read (issue 16): at intensity 1 each basic emotion reaches the apex of its FACS prototype.

Known answers through the engine the server streams (FaceBank, default controls), read after the onset has
settled, and the same pose in `mien render` (animation.pose.emotion_frame), on the wire and on the page.

The minimums are derived from the literature, not from the engine's output: FACS intensity letters per action
unit, turned into blendshape weights by facs.toml (animation.facs.au_weights) with the letter scale of
emotions.toml, A=.2 B=.35 C=.55 D=.75 E=1. An apex picture shows its defining AUs at D-E. A prototype may go
further; these are floors.

    EMFACS  Friesen & Ekman (1983), EMFACS-7, as tabled in Ekman, Friesen & Hager (2002), FACS Investigator's
            Guide, Table 10-1: surprise 1+2+5B+26, anger 4+5+7+23, disgust 9+15+16 / 10+15+16, sadness
            1+4+15, joy 6+12, contempt R12A+R14A.
    M08     Matsumoto, Keltner, Shiota, O'Sullivan & Frank (2008), Facial expressions of emotion, Handbook of
            Emotions (3rd ed.), the prototype table: fear 1+2+4+5+7+20+26.
    UF      Ekman & Friesen (1975), Unmasking the Face, chs. 4-9: the apex photographs and their descriptions.
    #16     The product owner's floors in issue 16: surprise jawOpen >= .35 with browInnerUp and eyeWide high;
            anger browDown >= .7, eyeSquint >= .4, mouthPress >= .4.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from animation import render
from animation.arkit import ARKIT_52, HEAD_RANGE, INDEX, N_BLENDSHAPES
from animation.avatar import DEFAULT_GLB, Calibration
from animation.controls import CONTROLS
from animation.emotions import EMOTIONS, parse_au_key
from animation.engine import MAX_GAIN, FaceBank
from animation.facs import MIXING, au_weights
from animation.pose import emotion_frame
from server.protocol.frames import dequantize, quantize
from tests.animation.helpers import EXPRESSION, settled_frame

A, B, C, D, E = 0.2, 0.35, 0.55, 0.75, 1.0

# emotion -> (AU, least FACS letter at the apex, why).
APEX: dict[str, tuple[tuple[str, float, str], ...]] = {
    "surprise": (
        ("1", D, "UF ch. 4: brows raised, curved and high"),
        ("2", D, "UF ch. 4: the whole brow up, outer end too"),
        ("5", C, "UF ch. 4: the white shows above the iris (EMFACS's 5B is surprise's least)"),
        ("26", D, "EMFACS 26; UF ch. 4: the jaw drops open"),
    ),
    "fear": (
        ("1", D, "M08; UF ch. 5: brows raised"),
        ("2", B, "M08; UF ch. 5: raised, less arched than in surprise"),
        ("4", C, "M08; UF ch. 5: brows drawn together, the straightened fear brow"),
        ("5", D, "M08; UF ch. 5: upper lid raised, the white above the iris"),
        ("7", A, "M08; UF ch. 5: the lower lid tensed"),
        ("20", D, "M08; UF ch. 5: lips stretched back"),
        ("26", C, "M08; UF ch. 5: the mouth open"),
    ),
    "anger": (
        ("4", D, "EMFACS, M08 (strong 4); UF ch. 7: brows lowered and drawn together"),
        ("5", A, "EMFACS, M08: the glare"),
        ("7", C, "EMFACS, M08; UF ch. 7: lids tensed"),
        ("23", D, "EMFACS, M08; UF ch. 7: lips pressed firmly together"),
    ),
    "disgust": (
        ("9", D, "EMFACS 9+15+16; UF ch. 6: the nose wrinkled"),
        ("10", C, "EMFACS 10+15+16; UF ch. 6: the upper lip raised"),
    ),
    "sadness": (
        ("1", D, "EMFACS, M08; UF ch. 9: the inner corners of the brows raised"),
        ("4", A, "EMFACS, M08: drawn together under the raised inner brow"),
        ("15", C, "EMFACS, M08; UF ch. 9: the lip corners down"),
    ),
    "joy": (
        ("6", C, "EMFACS, M08: the cheeks raised (Duchenne)"),
        ("12", D, "EMFACS, M08; UF ch. 8: the lip corners drawn back and up"),
    ),
    "contempt": (
        ("R12", B, "EMFACS R12A+R14A; Ekman & Friesen (1986), drawn visible at chat size"),
        ("R14", C, "EMFACS R14A; the tightened, dimpled corner is the sign"),
    ),
}
BASIC = tuple(APEX)

# Blendshape floors stated directly: the issue's own numbers (#16).
SHAPE_FLOORS: dict[str, dict[str, float]] = {
    "surprise": {"jawOpen": 0.35, "browInnerUp": D, "eyeWideLeft": C, "eyeWideRight": C},
    "anger": {
        "browDownLeft": 0.7, "browDownRight": 0.7, "eyeSquintLeft": 0.4, "eyeSquintRight": 0.4,
        "mouthPressLeft": 0.4, "mouthPressRight": 0.4,
    },
}  # fmt: skip
# Disgust's lower lip: EMFACS's 15+16, or 17 (#16: "+15/16/17"), at least one at B. Each AU maps to one shape
# at weight 1 in facs.toml.
LOWER_LIP = ("mouthFrownLeft", "mouthLowerDownLeft", "mouthShrugLower")  # AU15, AU16, AU17


def floors(emotion: str) -> dict[str, float]:
    """Least blendshape weights at the apex: the AU letters through facs.toml, summed per shape, capped at 1,
    then the stated shape floors."""
    low = np.zeros(N_BLENDSHAPES)
    for key, letter, _ in APEX[emotion]:
        au, side = parse_au_key(key)
        low += letter * au_weights(au, side)
    out = {ARKIT_52[i]: min(float(low[i]), 1.0) for i in np.flatnonzero(low)}
    for shape, least in SHAPE_FLOORS.get(emotion, {}).items():
        out[shape] = max(out.get(shape, 0.0), least)
    return out


def apex(emotion: str, intensity: float = 1.0, **controls: float) -> np.ndarray:
    """The bank's frame once a cue held forever has settled (no blink)."""
    bank = FaceBank(capacity=1, seed=16)
    slot = bank.add(0.0)
    for name, value in controls.items():
        bank.set_control(slot, name, value)
    bank.cue(slot, emotion, intensity, 0.0, hold=math.inf)
    return settled_frame(bank, slot, 1.5)


def shortfall(frame: np.ndarray, least: dict[str, float], tol: float = 1e-4) -> dict[str, tuple]:
    """The shapes below their floor: shape -> (weight, floor)."""
    return {s: (round(float(frame[INDEX[s]]), 3), w) for s, w in least.items() if frame[INDEX[s]] < w - tol}


def test_floors_follow_the_tables() -> None:
    # The conversion itself, on two cases worked by hand: fear's AU26 at C is .55 x jawOpen .45; anger's AU23
    # at D is .75 x mouthPress .7.
    assert floors("fear")["jawOpen"] == pytest.approx(C * 0.45)
    assert floors("anger")["mouthPressLeft"] == pytest.approx(0.525)
    for au, name in zip((15, 16, 17), LOWER_LIP, strict=True):
        assert au_weights(au)[INDEX[name]] == 1.0


@pytest.mark.parametrize("emotion", BASIC)
def test_apex_reaches_the_prototype(emotion: str) -> None:
    frame = apex(emotion)
    assert not shortfall(frame, floors(emotion)), shortfall(frame, floors(emotion))
    if emotion == "anger":  # lids tight: the lower lid's tightening outweighs the glare (else: fear, worry)
        assert frame[INDEX["eyeSquintLeft"]] > frame[INDEX["eyeWideLeft"]]
    if emotion == "disgust":
        assert max(frame[INDEX[s]] for s in LOWER_LIP) >= B
    if emotion == "contempt":  # unilateral: the subject's left corner stays at rest
        assert frame[INDEX["mouthSmileLeft"]] == frame[INDEX["mouthDimpleLeft"]] == 0.0
    if emotion in ("fear", "surprise"):  # the jaw drop is the visible one: a mouth clearly open
        assert frame[INDEX["jawOpen"]] > 0.3


@pytest.mark.parametrize("emotion", BASIC)
def test_render_the_wire_and_the_page_show_the_same_apex(emotion: str) -> None:
    bank = apex(emotion)
    still = emotion_frame({emotion: 1.0})  # what `mien render --emotion NAME` and the sheet draw
    assert render.emotion_frame is emotion_frame
    np.testing.assert_allclose(still[EXPRESSION], bank[EXPRESSION], atol=1e-6)
    assert not shortfall(still, floors(emotion))  # eyeWide too (idle channels, undisturbed when not blinking)
    wire = dequantize(quantize(bank))  # the server's frames, as the page decodes them
    assert not shortfall(wire, floors(emotion), tol=0.5 / 255 + 1e-6)
    cal = Calibration.load(DEFAULT_GLB)  # the page and the renderer draw Mien's head through its sidecar
    assert np.all(cal.gain == 1.0) and np.all(cal.offset == 0.0)


@pytest.mark.parametrize("emotion", BASIC)
def test_half_intensity_is_moderate_but_clear(emotion: str) -> None:
    full, half = apex(emotion), apex(emotion, 0.5)
    least = floors(emotion)
    for shape, w in least.items():
        c = INDEX[shape]
        assert half[c] <= 0.6 * full[c] + 1e-4, (shape, half[c], full[c])  # clearly weaker
        assert half[c] >= 0.4 * w, (shape, half[c], w)  # and still there: about half the apex floor
    assert half[EXPRESSION].sum() >= 0.4 * full[EXPRESSION].sum()


@pytest.mark.parametrize("emotion", BASIC)
def test_region_strengths_still_scale_the_apex(emotion: str) -> None:
    full = apex(emotion)
    upper = [INDEX[s] for s in floors(emotion) if s.startswith(("brow", "eye", "cheek"))]
    lower = [INDEX[s] for s in floors(emotion) if not s.startswith(("brow", "eye", "cheek"))]
    assert upper or lower
    half_up = apex(emotion, upper_face=0.5)
    np.testing.assert_allclose(half_up[upper], 0.5 * full[upper], atol=1e-4)
    np.testing.assert_allclose(half_up[lower], full[lower], atol=1e-4)
    no_low = apex(emotion, lower_face=0.0)
    assert np.all(no_low[lower] == 0.0)
    np.testing.assert_allclose(no_low[upper], full[upper], atol=1e-4)


def test_no_prototype_asks_a_shape_for_more_than_its_range() -> None:
    # Unclipped, each emotion alone at intensity 1 stays within [0, 1] on every shape: the apex is the
    # prototype itself, never a clipped version of it (and the onset stays as smooth as one shape's).
    raw = np.clip(MIXING.resolved, 0.0, None) @ MIXING.au_to_channels
    over = {EMOTIONS[int(e)]: float(raw[e].max()) for e in np.flatnonzero(raw.max(1) > 1.0 + 1e-6)}
    assert not over, over


BLENDS = (
    {e: 1.0 for e in EMOTIONS if e != "neutral"},
    {"joy": 1.0, "surprise": 1.0},
    {"fear": 1.0, "surprise": 1.0},
    {"anger": 1.0, "disgust": 1.0},
    {"sadness": 1.0, "anger": 1.0},
    {"joy": 1.0, "sadness": 1.0, "contempt": 1.0},
    {"thinking": 1.0, "confusion": 1.0, "fear": 1.0},
)


@pytest.mark.parametrize("maximum", [False, True], ids=["default", "max-controls"])
@pytest.mark.parametrize("mix", [{e: 1.0} for e in EMOTIONS] + list(BLENDS), ids=lambda m: "+".join(m))
def test_every_pose_stays_in_the_rigs_range(mix: dict[str, float], maximum: bool) -> None:
    bank = FaceBank(capacity=1, seed=7)
    slot = bank.add(0.0)
    if maximum:
        for control in CONTROLS:
            if control.name != "mood_lock":  # the lock would ignore the cues
                bank.set_control(slot, control.name, control.maximum)
        for name in mix:
            bank.set_gain(slot, name, MAX_GAIN)
    for name, level in mix.items():
        bank.cue(slot, name, level, 0.0, hold=math.inf)
    frames = np.stack([bank.step(k / 30)[slot] for k in range(1, 91)])
    assert np.all(np.isfinite(frames))
    shapes = frames[:, :N_BLENDSHAPES]
    assert shapes.min() >= 0.0 and shapes.max() <= 1.0
    assert np.all(np.abs(frames[:, N_BLENDSHAPES:]) <= HEAD_RANGE)
    # Eyes never cross: both eyes never turn in at once (one gaze direction per axis).
    assert not np.any((frames[:, INDEX["eyeLookInLeft"]] > 0) & (frames[:, INDEX["eyeLookInRight"]] > 0))
    still = emotion_frame(mix)
    assert still[:N_BLENDSHAPES].min() >= 0.0 and still[:N_BLENDSHAPES].max() <= 1.0
