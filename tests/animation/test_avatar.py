"""Avatars (animation/avatar.py, glb.py, pose.py): the morph naming rule (its vectors are shared with the
browser test), calibration sidecars, identity bakes, and posing any GLB (Mien's head or a foreign one)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pygltflib as gl
import pytest

from animation import glb
from animation.arkit import ARKIT_52, INDEX, N_CHANNELS
from animation.avatar import (
    DEFAULT_GLB,
    IDENTITY_MODES,
    Calibration,
    arkit_name,
    bind_targets,
    identity_glb,
    sidecar_path,
)
from animation.pose import PosedAvatar, head_rotation, parse_emotion
from tests.models.foreign import ARKIT, TARGETS, foreign_glb, moved_row

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "models" / "avatar_names.json").read_text())


@pytest.mark.parametrize("case", VECTORS["names"], ids=lambda c: c["raw"] or "<empty>")
def test_names_normalise_to_arkit(case: dict) -> None:
    assert arkit_name(case["raw"]) == case["arkit"]


@pytest.mark.parametrize("case", VECTORS["bindings"], ids=lambda c: ",".join(c["targets"]))
def test_bindings_prefer_exact_names_and_join_split_halves(case: dict) -> None:
    bound = {ARKIT_52[channel]: morphs for channel, morphs in bind_targets(case["targets"]).items()}
    assert bound == case["bound"]


def test_sidecar_sits_beside_the_glb() -> None:
    assert sidecar_path("models/face.glb") == Path("models/face.calibration.json")
    assert sidecar_path(Path("/a/b/Head.GLB")) == Path("/a/b/Head.calibration.json")
    assert sidecar_path(DEFAULT_GLB).is_file()  # Mien's head ships one, so the browser never gets a 404


def test_calibration_scales_offsets_and_clips_blendshapes_only(tmp_path: Path) -> None:
    head = tmp_path / "head.glb"
    assert Calibration.load(head).gain.tolist() == [1.0] * 52  # no sidecar: no calibration
    sidecar_path(head).write_text(json.dumps({
        "gain": {"mouthSmile_L": 0.5, "jawOpen": 2.0, "noSuchShape": 3.0},
        "offset": {"browInnerUp": 0.1},
    }))  # fmt: skip
    cal = Calibration.load(head)
    assert cal.unknown == ("noSuchShape",)
    frame = np.zeros(N_CHANNELS, np.float32)
    frame[[INDEX["mouthSmileLeft"], INDEX["jawOpen"], INDEX["mouthSmileRight"]]] = [0.8, 0.7, 0.8]
    frame[INDEX["headYaw"]] = -0.3
    out = cal.apply(frame)
    assert out[INDEX["mouthSmileLeft"]] == pytest.approx(0.4)
    assert out[INDEX["jawOpen"]] == 1.0  # 1.4, clipped
    assert out[INDEX["mouthSmileRight"]] == pytest.approx(0.8)  # untouched
    assert out[INDEX["browInnerUp"]] == pytest.approx(0.1)  # offset applies at rest too
    assert out[INDEX["headYaw"]] == pytest.approx(-0.3)  # head channels are not blendshapes
    assert frame[INDEX["mouthSmileLeft"]] == pytest.approx(0.8)  # the frame itself is left alone
    sidecar_path(head).write_text(json.dumps({"gain": {"jawOpen": "big"}}))
    with pytest.raises(ValueError, match=r"head\.calibration\.json"):
        Calibration.load(head)


def test_identities_are_deterministic_different_and_keep_the_rig(tmp_path: Path) -> None:
    one, again, other = identity_glb(5), identity_glb(5), identity_glb(6)
    assert one == again and one != other
    base, shaped = glb.load(DEFAULT_GLB), glb.load(_write(tmp_path / "five.glb", one))
    moved = []
    for p, q in zip(base.primitives, shaped.primitives, strict=True):
        assert p.material == q.material and len(p.positions) == len(q.positions)
        np.testing.assert_array_equal(p.targets, q.targets)  # expressions are identity-independent offsets
        np.testing.assert_array_equal(p.head_weight, q.head_weight)
        np.testing.assert_allclose(np.linalg.norm(q.normals, axis=1), 1.0, atol=1e-4)
        moved.append(np.linalg.norm(q.positions - p.positions, axis=1))
    shift = np.concatenate(moved)
    assert np.median(shift) > 0.001 and shift.max() < 0.06  # a different face, not a different creature
    doc = gl.GLTF2().load_binary(str(tmp_path / "five.glb"))
    assert doc.asset.extras["identitySeed"] == 5 and "ICT-FaceKit" in doc.asset.copyright
    for prim in doc.meshes[0].primitives:  # bounds follow the new shape (the validator checks them)
        acc = doc.accessors[prim.attributes.POSITION]
        pos = glb.Reader(doc).floats(prim.attributes.POSITION)
        assert acc.min == pos.min(0).tolist() and acc.max == pos.max(0).tolist()


def test_identity_data_is_compact() -> None:
    assert IDENTITY_MODES.stat().st_size < 2_500_000
    with np.load(IDENTITY_MODES) as data:
        assert data["modes"].dtype == np.int8 and data["modes"].shape[0] == 40


def test_posing_mien_s_head_moves_the_jaw_and_turns_the_head_not_the_shoulders() -> None:
    avatar = PosedAvatar()
    assert avatar.missing == ("tongueOut",)
    skin = next(i for i, p in enumerate(avatar.scene.primitives) if p.material.name == "skin")
    rest = avatar.pose(np.zeros(N_CHANNELS))[skin][0]
    np.testing.assert_allclose(rest, avatar.scene.primitives[skin].positions)
    frame = np.zeros(N_CHANNELS, np.float32)
    frame[INDEX["jawOpen"]] = 1.0
    opened = avatar.pose(frame)[skin][0]
    assert (opened - rest)[:, 1].min() < -0.01  # the chin drops by more than a centimetre
    frame[:] = 0
    frame[INDEX["headYaw"]] = 0.5
    pts, normals = avatar.pose(frame)[skin]
    nose, neck_base = rest[:, 2].argmax(), rest[:, 1].argmin()
    assert pts[nose, 0] > rest[nose, 0] + 0.03  # +yaw turns the face toward the subject's left (+x)
    np.testing.assert_allclose(pts[neck_base], rest[neck_base], atol=1e-9)  # the shoulders stay
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)


def test_head_rotation_matches_the_browser_conventions() -> None:
    forward = np.array([0.0, 0.0, 1.0])
    assert (head_rotation(0.0, 0.4, 0.0) @ forward)[1] < -0.3  # +pitch nods down
    assert (head_rotation(0.4, 0.0, 0.0) @ forward)[0] > 0.3  # +yaw to the subject's left
    assert (head_rotation(0.0, 0.0, 0.4) @ np.array([0.0, 1.0, 0.0]))[0] < -0.3  # +roll: crown to the right


def test_a_foreign_glb_poses_through_its_variant_names_and_calibration(tmp_path: Path) -> None:
    path = _write(tmp_path / "foreign.glb", foreign_glb())
    sidecar_path(path).write_text(json.dumps({"gain": {"mouthSmileLeft": 0.5}}))
    avatar = PosedAvatar(path)
    assert len(avatar.missing) == 52 - 3 and "jawOpen" not in avatar.missing
    rest = avatar.pose(np.zeros(N_CHANNELS))[0][0]
    for k, name in enumerate(ARKIT):
        if name is None:
            continue
        frame = np.zeros(N_CHANNELS, np.float32)
        frame[INDEX[name]] = 1.0
        lift = (avatar.pose(frame)[0][0] - rest)[:, 1]
        expected = 0.01 if name == "mouthSmileLeft" else 0.02  # calibrated to half
        np.testing.assert_allclose(lift[moved_row(k)], expected, atol=1e-6)
        assert np.count_nonzero(lift) == 9, TARGETS[k]
    frame = np.zeros(N_CHANNELS, np.float32)
    frame[INDEX["headRoll"]] = 0.3  # no head joint: the whole model turns
    turned = avatar.pose(frame)[0][0]
    assert np.linalg.norm(turned - rest, axis=1).min() > 0.001


def test_parse_emotion() -> None:
    assert parse_emotion("joy") == ("joy", 1.0)
    assert parse_emotion("Sadness:0.6") == ("sadness", 0.6)
    for bad in ("glee", "joy:2", "joy:lots"):
        with pytest.raises(ValueError):
            parse_emotion(bad)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
