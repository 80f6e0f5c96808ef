from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from animation.arkit import ARKIT_52, INDEX
from animation.emotions import EMOTION_INDEX, N_EMOTIONS
from animation.facs import (
    ANTAGONISTS,
    AUS,
    EMOTION_TO_CHANNELS,
    MIXING,
    UNILATERAL_CENTRAL,
    Mixing,
    active_channels,
    au_activations,
    au_head,
    au_weights,
    mix,
    prototype_channels,
    resolve_antagonists,
)

M = EMOTION_TO_CHANNELS


def row(emotion: str) -> np.ndarray:
    return M[EMOTION_INDEX[emotion]]


def ch(*names: str) -> list[int]:
    return [INDEX[n] for n in names]


def test_matrix_shape_range_and_neutral() -> None:
    assert M.shape == (N_EMOTIONS, 52) and M.dtype == np.float32
    assert np.all((M >= 0.0) & (M <= 1.0))
    assert not np.any(row("neutral"))
    assert all(np.any(M[i]) for i in range(1, N_EMOTIONS))


@pytest.mark.parametrize(
    ("emotion", "shapes"),
    [
        ("joy", ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight")),
        ("sadness", ("browInnerUp", "mouthFrownLeft", "mouthFrownRight", "browDownLeft")),
        ("surprise", ("browInnerUp", "browOuterUpLeft", "browOuterUpRight", "eyeWideLeft", "jawOpen")),
        ("fear", ("browInnerUp", "eyeWideLeft", "eyeWideRight", "mouthStretchLeft", "jawOpen")),
        ("anger", ("browDownLeft", "browDownRight", "eyeSquintLeft", "mouthPressLeft", "mouthPressRight")),
        ("disgust", ("noseSneerLeft", "noseSneerRight", "mouthFrownLeft", "mouthLowerDownRight")),
        ("contempt", ("mouthSmileRight", "mouthDimpleRight")),
        ("thinking", ("eyeLookUpLeft", "eyeLookUpRight", "mouthShrugLower", "browDownLeft")),
        ("confusion", ("browDownRight", "browOuterUpLeft", "eyeSquintRight", "mouthDimpleLeft")),
    ],
)
def test_prototype_drives_its_shapes(emotion: str, shapes: tuple[str, ...]) -> None:
    assert np.all(row(emotion)[ch(*shapes)] >= 0.2), dict(zip(shapes, row(emotion)[ch(*shapes)], strict=True))


def test_unilateral_emotions_are_asymmetric() -> None:
    c = row("contempt")
    assert c[INDEX["mouthSmileLeft"]] == 0.0 and c[INDEX["mouthDimpleLeft"]] == 0.0
    assert c[INDEX["mouthSmileRight"]] > 0.3
    f = row("confusion")
    assert f[INDEX["browOuterUpLeft"]] > 0.5 and f[INDEX["browOuterUpRight"]] == 0.0
    assert f[INDEX["eyeSquintRight"]] > 0.2 and f[INDEX["eyeSquintLeft"]] == 0.0
    assert f[INDEX["mouthFrownRight"]] > 0.2 and f[INDEX["mouthFrownLeft"]] == 0.0


def test_symmetric_emotions_are_symmetric() -> None:
    lefts = [i for i, n in enumerate(ARKIT_52) if n.endswith("Left") and not n.startswith("eyeLook")]
    rights = [INDEX[ARKIT_52[i].removesuffix("Left") + "Right"] for i in lefts]
    for e in ("joy", "sadness", "anger", "fear", "surprise", "disgust"):
        np.testing.assert_array_equal(row(e)[lefts], row(e)[rights], err_msg=e)


def test_bilateral_and_unilateral_au_weights() -> None:
    both = au_weights(12)
    assert both[INDEX["mouthSmileLeft"]] == both[INDEX["mouthSmileRight"]] == 1.0
    right = au_weights(12, "R")
    assert right[INDEX["mouthSmileRight"]] == 1.0 and right[INDEX["mouthSmileLeft"]] == 0.0
    left_jaw = au_weights(26, "L")  # central shape: kept at the documented fraction
    assert left_jaw[INDEX["jawOpen"]] == pytest.approx(au_weights(26)[INDEX["jawOpen"]] * UNILATERAL_CENTRAL)
    with pytest.raises(ValueError):
        au_weights(3)
    with pytest.raises(ValueError):
        au_weights(12, "X")


def test_table_covers_the_aus_the_brief_lists() -> None:
    wanted = {1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27, 28, 29, 45}
    assert wanted | {61, 62, 63, 64} <= set(AUS)
    assert au_weights(27)[INDEX["jawOpen"]] > au_weights(26)[INDEX["jawOpen"]]  # 26 is a partial drop
    assert au_weights(45)[INDEX["eyeBlinkLeft"]] == 1.0


def test_prototype_channels_sums_and_clips() -> None:
    out = prototype_channels({"6": 1.0, "7": 1.0})  # both drive eyeSquint
    assert out[INDEX["eyeSquintLeft"]] == 1.0  # 0.25 + 1.0, clipped
    assert out[INDEX["cheekSquintRight"]] == 1.0


def test_mix_single_emotion_is_linear() -> None:
    w = np.zeros((2, N_EMOTIONS), np.float32)
    w[0, EMOTION_INDEX["surprise"]] = 1.0
    w[1, EMOTION_INDEX["surprise"]] = 0.5
    out = mix(w)
    np.testing.assert_allclose(out[0], row("surprise"))
    np.testing.assert_allclose(out[1], 0.5 * row("surprise"), rtol=1e-6)


def test_mix_resolves_smile_against_frown() -> None:
    w = np.zeros((1, N_EMOTIONS), np.float32)
    w[0, EMOTION_INDEX["joy"]] = 1.0
    w[0, EMOTION_INDEX["sadness"]] = 1.0
    out = mix(w)[0]
    smile, frown = out[INDEX["mouthSmileLeft"]], out[INDEX["mouthFrownLeft"]]
    assert min(smile, frown) == 0.0  # not both at once
    expected = row("joy")[INDEX["mouthSmileLeft"]] - row("sadness")[INDEX["mouthFrownLeft"]]
    assert smile == pytest.approx(max(expected, 0.0), abs=1e-6)
    # The sad brows are untouched by the mouth's conflict.
    assert out[INDEX["browInnerUp"]] == pytest.approx(row("sadness")[INDEX["browInnerUp"]])


def test_mix_clips_overdrive() -> None:
    w = np.full((1, N_EMOTIONS), 4.0, np.float32)
    out = mix(w)
    assert out.max() == 1.0 and out.min() >= 0.0


@settings(max_examples=200, deadline=None)
@given(arrays(np.float32, (3, N_EMOTIONS), elements=st.floats(0.0, 4.0, width=32)))
def test_mix_range_and_antagonists_never_both_on(w: np.ndarray) -> None:
    out = mix(w)
    assert out.shape == (3, 52) and np.all(np.isfinite(out))
    assert np.all((out >= 0.0) & (out <= 1.0))
    both = (out[:, ANTAGONISTS[:, 0]] > 0) & (out[:, ANTAGONISTS[:, 1]] > 0)
    assert not np.any(both)


def test_active_channels_helper() -> None:
    assert set(active_channels("contempt")) == {"mouthSmileRight", "mouthDimpleRight"}
    assert active_channels("neutral") == ()


def test_mixing_space_splits_only_one_sided_aus() -> None:
    cols = MIXING.columns
    # contempt's R12/R14, confusion's L1/L2/R7/L14/R15, and 12's antagonist 15
    assert {"12L", "12R", "14L", "14R", "1L", "1R", "2L", "2R", "7L", "7R", "15L", "15R"} <= set(cols)
    assert "4" in cols and "4L" not in cols  # always bilateral: one column
    assert MIXING.resolved.shape == (N_EMOTIONS, len(cols)) and MIXING.au_to_frame.shape == (len(cols), 55)
    assert np.all(MIXING.au_to_frame[:, 52:] == 0.0)  # the head is not an expression's business
    upper = {c for c, u in zip(cols, MIXING.upper, strict=True) if u}
    assert {"1L", "2L", "4", "5", "6", "7R", "63"} <= upper and not upper & {"9", "12L", "15R", "26"}


def test_folded_antagonists_equal_explicit_resolution() -> None:
    w = np.random.default_rng(0).random((200, N_EMOTIONS)).astype(np.float32) * 2
    summed = w @ MIXING.emotion_to_au
    explicit = np.clip(resolve_antagonists(summed, MIXING.antagonists, MIXING.suppression), 0.0, 1.0)
    np.testing.assert_allclose(au_activations(w, MIXING), explicit, atol=1e-6)


def test_aus_saturate_instead_of_doubling() -> None:
    w = np.zeros((1, N_EMOTIONS), np.float32)
    w[0, EMOTION_INDEX["anger"]] = w[0, EMOTION_INDEX["confusion"]] = 1.0  # both use AU4
    out = mix(w)[0]
    assert out[INDEX["browDownLeft"]] == 1.0  # 0.9 + 0.45 -> one fully lowered brow
    a = au_activations(w, MIXING)
    assert a.max() <= 1.0


def test_custom_matrix_mixing() -> None:
    matrix = np.zeros((N_EMOTIONS, 52), np.float32)
    matrix[EMOTION_INDEX["joy"], INDEX["mouthSmileLeft"]] = 0.5
    matrix[EMOTION_INDEX["sadness"], INDEX["mouthFrownLeft"]] = 0.7
    custom = Mixing.from_channels(matrix)
    w = np.zeros((1, N_EMOTIONS), np.float32)
    w[0, EMOTION_INDEX["joy"]] = w[0, EMOTION_INDEX["sadness"]] = 1.0
    out = mix(w, custom)[0]
    assert out[INDEX["mouthFrownLeft"]] == pytest.approx(0.2) and out[INDEX["mouthSmileLeft"]] == 0.0
    with pytest.raises(ValueError):
        Mixing.from_channels(np.full((N_EMOTIONS, 52), np.nan))
    with pytest.raises(ValueError):
        Mixing.from_channels(-matrix)


def test_head_codes_drive_the_head_posture_only() -> None:
    yaw, pitch, roll = np.eye(3)
    for au, direction in ((51, yaw), (52, -yaw), (53, -pitch), (54, pitch), (55, -roll), (56, roll)):
        h = au_head(au)
        assert np.all(np.sign(h) == direction) and 0.1 <= np.abs(h).max() <= 0.3, au  # ~6-17 degrees
        assert not np.any(au_weights(au)), au  # no blendshape
        np.testing.assert_allclose(au_head(au, "L"), h * UNILATERAL_CENTRAL)  # the head is central
    assert not np.any(au_head(12)) and not np.any(au_head(61))  # face and eye codes leave the head alone
    np.testing.assert_array_equal(au_head(53), -au_head(54))  # an axis nets out like a sum


def test_mixing_head_posture_table() -> None:
    head = MIXING.au_to_head
    assert head.shape == (len(MIXING.columns), 3) and not head.flags.writeable
    posture = np.clip(MIXING.resolved, 0.0, 1.0) @ head  # each emotion alone, at full intensity
    assert posture[EMOTION_INDEX["sadness"], 1] > 0.05  # head down
    assert posture[EMOTION_INDEX["confusion"], 2] > 0.05  # tilted toward the right shoulder
    assert posture[EMOTION_INDEX["thinking"], 1] < 0.0  # head up
    for e in ("neutral", "joy", "fear", "surprise", "disgust", "contempt"):
        assert not np.any(posture[EMOTION_INDEX[e]]), e
    assert not np.any(Mixing.from_channels(np.zeros((N_EMOTIONS, 52), np.float32)).au_to_head)
