"""Avatars: ARKit names for any rig's morph targets, per-avatar calibration, new identities of Mien's head.

Name rule (the same in web/avatar-names.js; shared test vectors in tests/models/avatar_names.json). A morph
target drives the ARKit channel its name normalises to:

    1. an exact ARKit name is taken as is;
    2. a one-letter side suffix after a separator (`_L`, `.R`, `-l`, ` r`) becomes `Left` / `Right`;
    3. anything up to the last `.`, `:`, `|` or `/` is a namespace and is dropped (`blendShape1.`, `rig:`);
    4. a leading code such as `A01_` or `07_` is dropped (Reallusion-style `A25_Jaw_Open`);
    5. the rest is compared without `_`, `-`, spaces and case (`Mouth_Smile_Left` = `mouthSmileLeft`);
    6. a sided name whose unsided form is an ARKit name (`browInnerUp_L`, `cheekPuff_R`) drives that one
       channel, both halves together.

Within one mesh an exact name wins over a variant that maps to the same channel. Channels no morph maps to
are missing: reported once, and the face works without them.

Calibration: `NAME.calibration.json` beside `NAME.glb` holds `{"gain": {shape: g}, "offset": {shape: o}}`
(shape keys normalised by the rule above); a weight w is shown as clip(g * w + o, 0, 1). Frames stay
avatar-independent: calibration is applied only where the avatar is drawn (the browser and the renderer).

Identities: `identity_glb(seed)` reshapes models/ict_head.glb by a random ICT identity, from the first
identity modes committed in models/ict_identity.npz (see models/README.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animation.arkit import ARKIT_52, N_BLENDSHAPES

MODELS = Path(__file__).resolve().parent.parent / "models"
DEFAULT_GLB = MODELS / "ict_head.glb"
IDENTITY_MODES = MODELS / "ict_identity.npz"

_SIDE = re.compile(r"[._\-\s]([lr])$", re.IGNORECASE)
_NAMESPACE = re.compile(r"^.*[.:|/]")
_CODE = re.compile(r"^[A-Za-z]?\d+_")
_SEPARATORS = re.compile(r"[_\-\s]")


def _key(name: str) -> str:
    return _SEPARATORS.sub("", name).lower()


def arkit_name(raw: str, names: Sequence[str] = ARKIT_52) -> str | None:
    """The channel in `names` a morph target called `raw` drives, or None (see the module's rule)."""
    if raw in names:
        return raw
    s = raw.strip()
    side = _SIDE.search(s)
    if side:
        s = s[: side.start()] + ("Left" if side.group(1).lower() == "l" else "Right")
    s = _CODE.sub("", _NAMESPACE.sub("", s))
    lookup = {_key(n): n for n in names}
    key = _key(s)
    if key in lookup:
        return lookup[key]
    for suffix in ("left", "right"):  # one half of a shape ARKit does not split
        if key.endswith(suffix) and key[: -len(suffix)] in lookup:
            return lookup[key[: -len(suffix)]]
    return None


def bind_targets(target_names: Sequence[str], names: Sequence[str] = ARKIT_52) -> dict[int, list[int]]:
    """Channel index (into `names`) -> the morph target indices that channel drives, for one mesh."""
    exact: dict[int, list[int]] = {}
    variant: dict[int, list[int]] = {}
    index = {n: i for i, n in enumerate(names)}
    for morph, raw in enumerate(target_names):
        name = arkit_name(raw, names)
        if name is not None:
            (exact if raw == name else variant).setdefault(index[name], []).append(morph)
    return {**variant, **exact}  # an exact name replaces the variants of its channel


def sidecar_path(glb: Path | str) -> Path:
    """`face.glb` -> `face.calibration.json` in the same folder."""
    glb = Path(glb)
    stem = glb.name[: -len(glb.suffix)] if glb.suffix.lower() in (".glb", ".gltf") else glb.name
    return glb.with_name(f"{stem}.calibration.json")


@dataclass(frozen=True)
class Calibration:
    """Per-blendshape gain and offset of one avatar (arrays over ARKIT_52); `unknown` lists ignored keys."""

    gain: np.ndarray
    offset: np.ndarray
    unknown: tuple[str, ...] = ()

    @classmethod
    def identity(cls) -> Calibration:
        return cls(np.ones(N_BLENDSHAPES, np.float32), np.zeros(N_BLENDSHAPES, np.float32))

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        cal = cls.identity()
        gain, offset, unknown = cal.gain.copy(), cal.offset.copy(), []
        for field, out in (("gain", gain), ("offset", offset)):
            table = data.get(field, {})
            if not isinstance(table, dict):
                raise ValueError(f"calibration {field!r} must be an object of shape name -> number")
            for raw, value in table.items():
                if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                    raise ValueError(f"calibration {field}[{raw!r}] must be a finite number, got {value!r}")
                name = arkit_name(raw)
                if name is None:
                    unknown.append(raw)
                else:
                    out[ARKIT_52.index(name)] = value
        return cls(gain, offset, tuple(unknown))

    @classmethod
    def load(cls, glb: Path | str) -> Calibration:
        """The sidecar beside `glb`, or no calibration when there is none."""
        path = sidecar_path(glb)
        if not path.is_file():
            return cls.identity()
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (ValueError, AttributeError) as e:
            raise ValueError(f"{path}: {e}") from e

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """A copy of a frame (52 blendshapes, then any head channels) with the blendshapes calibrated."""
        out = np.array(frame, dtype=np.float32, copy=True)
        out[..., :N_BLENDSHAPES] = np.clip(self.gain * out[..., :N_BLENDSHAPES] + self.offset, 0.0, 1.0)
        return out


# ---------------------------------------------------------------------------------------------- identities


def _smooth_normals(pos: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (what models/bake_ict.py bakes), via bincount (fast, deterministic)."""
    fn = np.cross(pos[tris[:, 1]] - pos[tris[:, 0]], pos[tris[:, 2]] - pos[tris[:, 0]])
    vn = np.stack(
        [sum(np.bincount(tris[:, k], fn[:, c], minlength=len(pos)) for k in range(3)) for c in range(3)],
        axis=1,
    )
    length = np.linalg.norm(vn, axis=1, keepdims=True)
    return vn / np.where(length > 0, length, 1.0)


def identity_weights(seed: int, n_modes: int, strength: float = 1.0) -> np.ndarray:
    """w_i ~ N(0, strength²) for the first n_modes modes, from numpy's default_rng(seed)."""
    return strength * np.random.default_rng(seed).standard_normal(n_modes)


def reshape_glb(base: bytes, modes: dict[str, np.ndarray], weights: np.ndarray, extras: dict) -> bytes:
    """Mien's head GLB (bytes) with its neutral moved by Σ wᵢ·modeᵢ; normals follow, targets and skin stay
    (ICT's expressions are offsets that do not depend on identity). `modes` is the npz's arrays."""
    import pygltflib as gl

    doc = gl.GLTF2.load_from_bytes(base)
    blob = bytearray(doc.binary_blob())
    for acc in doc.accessors:  # pygltflib fills in byteOffset 0, which storage-less accessors must not have
        if acc.bufferView is None:
            acc.byteOffset = None
    prims = doc.meshes[0].primitives
    counts = modes["counts"]
    if len(counts) != len(prims):
        raise ValueError("identity modes were derived for a different head (primitive count differs)")
    rows = np.split(modes["rows"].astype(np.int64), np.cumsum(counts)[:-1])
    n_unique = int(modes["modes"].shape[1])

    def floats(index: int) -> tuple[np.ndarray, int]:
        acc = doc.accessors[index]
        view = doc.bufferViews[acc.bufferView]
        if acc.componentType != gl.FLOAT or view.byteStride not in (None, 12) or acc.sparse is not None:
            raise ValueError("identity reshaping needs tightly packed float POSITION/NORMAL accessors")
        start = view.byteOffset + (acc.byteOffset or 0)
        return np.frombuffer(blob, np.float32, acc.count * 3, start).reshape(-1, 3).copy(), start

    def triangles(prim: gl.Primitive) -> np.ndarray:
        acc = doc.accessors[prim.indices]
        dtype = {gl.UNSIGNED_BYTE: np.uint8, gl.UNSIGNED_SHORT: np.uint16, gl.UNSIGNED_INT: np.uint32}
        start = doc.bufferViews[acc.bufferView].byteOffset + (acc.byteOffset or 0)
        return np.frombuffer(blob, dtype[acc.componentType], acc.count, start).astype(np.int64).reshape(-1, 3)

    base_u = np.zeros((n_unique, 3))
    tris = []
    for prim, r in zip(prims, rows, strict=True):
        pos, _ = floats(prim.attributes.POSITION)
        if len(pos) != len(r):
            raise ValueError("identity modes were derived for a different head (vertex count differs)")
        base_u[r] = pos
        tris.append(r[triangles(prim)])
    w = np.asarray(weights, dtype=np.float64)
    k = len(w)
    offset = np.tensordot(w * modes["scale"][:k], modes["modes"][:k].astype(np.float64), axes=1)
    new_u = (base_u + offset).astype(np.float32)
    normals = _smooth_normals(new_u.astype(np.float64), np.concatenate(tris)).astype(np.float32)

    for prim, r in zip(prims, rows, strict=True):
        for attr, values in (("POSITION", new_u[r]), ("NORMAL", normals[r])):
            index = getattr(prim.attributes, attr)
            if index is None:
                continue
            _, start = floats(index)
            blob[start : start + values.nbytes] = np.ascontiguousarray(values).tobytes()
            if attr == "POSITION":
                doc.accessors[index].min = [float(v) for v in values.min(0)]
                doc.accessors[index].max = [float(v) for v in values.max(0)]
    doc.asset.extras = {**(doc.asset.extras or {}), **extras}
    doc.set_binary_blob(bytes(blob))
    return b"".join(doc.save_to_bytes())


def load_modes(path: Path | str = IDENTITY_MODES) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def identity_glb(
    seed: int, strength: float = 1.0, base: Path | str = DEFAULT_GLB, modes: Path | str = IDENTITY_MODES
) -> bytes:
    """A new face: Mien's head reshaped by a random identity (deterministic: same seed, same bytes)."""
    m = load_modes(modes)
    w = identity_weights(seed, int(m["modes"].shape[0]), strength)
    extras = {"identitySeed": int(seed), "identityStrength": float(strength)}
    return reshape_glb(Path(base).read_bytes(), m, w, extras)
