"""Read a glTF 2.0 binary (GLB) into numpy: the meshes of its default scene, posed in world space, with their
morph targets, materials and head-joint skin weights. For the offscreen renderer and the identity bake, so it
reads what those need (triangles, POSITION, NORMAL, COLOR_0, morph POSITION deltas, base colours), and no
textures or animations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pygltflib as gl

DTYPES = {gl.BYTE: np.int8, gl.UNSIGNED_BYTE: np.uint8, gl.SHORT: np.int16, gl.UNSIGNED_SHORT: np.uint16,
          gl.UNSIGNED_INT: np.uint32, gl.FLOAT: np.float32}  # fmt: skip
WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
# Compressed geometry this reader does not decode (the browser's GLTFLoader needs a decoder for them too).
COMPRESSED = ("KHR_draco_mesh_compression", "EXT_meshopt_compression", "KHR_meshopt_compression")
HEAD_JOINT = "head"  # the joint Mien turns (ict_head.glb's; other rigs name theirs the same, or go whole)


@dataclass(frozen=True)
class Material:
    name: str
    color: tuple[float, float, float, float]  # linear RGBA base colour factor
    roughness: float
    blend: bool
    double_sided: bool


@dataclass
class Primitive:
    """One drawable: triangles over its own vertices, in world space (metres, +y up, the face toward +z)."""

    positions: np.ndarray  # float64 [n, 3]
    normals: np.ndarray | None  # float64 [n, 3]
    colors: np.ndarray | None  # float64 [n, 4] COLOR_0 (multiplies the base colour), or None
    triangles: np.ndarray  # int64 [m, 3]
    targets: np.ndarray  # float64 [k, n, 3] morph POSITION deltas, in world axes
    target_names: list[str]  # raw names (mesh.extras.targetNames), one per target
    material: Material
    head_weight: np.ndarray  # float64 [n]: how much each vertex follows the head joint (0 without one)
    mesh_name: str = ""


@dataclass
class Scene:
    primitives: list[Primitive]
    head_pivot: np.ndarray | None  # world position of the head joint, or None when the GLB has none
    extras: dict = field(default_factory=dict)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        pts = np.concatenate([p.positions for p in self.primitives])
        return pts.min(0), pts.max(0)


DEFAULT_MATERIAL = Material("default", (0.8, 0.8, 0.8, 1.0), 0.6, False, False)


class Reader:
    """Accessor decoding for one document (strided, normalized and sparse accessors)."""

    def __init__(self, doc: gl.GLTF2) -> None:
        self.doc = doc
        self.blob = doc.binary_blob() or b""

    def _view(self, index: int, dtype: np.dtype, count: int, width: int, offset: int) -> np.ndarray:
        view = self.doc.bufferViews[index]
        item = np.dtype(dtype).itemsize * width
        stride = view.byteStride or item
        start = (view.byteOffset or 0) + offset
        raw = np.frombuffer(self.blob, np.uint8, stride * (count - 1) + item if count else 0, start)
        if stride == item:
            return raw.view(dtype).reshape(count, width)
        rows = np.lib.stride_tricks.as_strided(raw, (count, item), (stride, 1))
        return np.ascontiguousarray(rows).view(dtype).reshape(count, width)

    def raw(self, index: int) -> np.ndarray:
        acc = self.doc.accessors[index]
        dtype, width = np.dtype(DTYPES[acc.componentType]), WIDTH[acc.type]
        if acc.bufferView is None:
            out = np.zeros((acc.count, width), dtype)
        else:
            out = self._view(acc.bufferView, dtype, acc.count, width, acc.byteOffset or 0).copy()
        if acc.sparse is not None:
            sp = acc.sparse
            idx_type = np.dtype(DTYPES[sp.indices.componentType])
            idx = self._view(sp.indices.bufferView, idx_type, sp.count, 1, sp.indices.byteOffset or 0)[:, 0]
            out[idx] = self._view(sp.values.bufferView, dtype, sp.count, width, sp.values.byteOffset or 0)
        return out

    def floats(self, index: int) -> np.ndarray:
        """Values as float64, normalized integers mapped to [0, 1] or [-1, 1] as the spec says."""
        acc = self.doc.accessors[index]
        data = self.raw(index)
        if acc.normalized and data.dtype.kind in "iu":
            scaled = data / float(np.iinfo(data.dtype).max)
            return np.maximum(scaled, -1.0) if data.dtype.kind == "i" else scaled
        return data.astype(np.float64)


def _local_matrix(node: gl.Node) -> np.ndarray:
    if node.matrix:
        return np.array(node.matrix, dtype=np.float64).reshape(4, 4).T  # glTF is column-major
    t = np.eye(4)
    if node.translation:
        t[:3, 3] = node.translation
    r = np.eye(4)
    if node.rotation:
        x, y, z, w = node.rotation
        r[:3, :3] = [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    s = np.eye(4)
    if node.scale:
        s[:3, :3] = np.diag(node.scale)
    return t @ r @ s


def _world_matrices(doc: gl.GLTF2) -> dict[int, np.ndarray]:
    """World matrix of every node reachable from the default scene (or all roots without scenes)."""
    if doc.scenes:
        roots = doc.scenes[doc.scene or 0].nodes or []
    else:
        children = {c for n in doc.nodes for c in (n.children or [])}
        roots = [i for i in range(len(doc.nodes)) if i not in children]
    world: dict[int, np.ndarray] = {}
    stack = [(i, np.eye(4)) for i in roots]
    while stack:
        i, parent = stack.pop()
        world[i] = parent @ _local_matrix(doc.nodes[i])
        stack.extend((c, world[i]) for c in doc.nodes[i].children or [])
    return world


def _material(doc: gl.GLTF2, index: int | None) -> Material:
    if index is None:
        return DEFAULT_MATERIAL
    m = doc.materials[index]
    pbr = m.pbrMetallicRoughness
    color = tuple(pbr.baseColorFactor) if pbr and pbr.baseColorFactor else (1.0, 1.0, 1.0, 1.0)
    rough = pbr.roughnessFactor if pbr and pbr.roughnessFactor is not None else 1.0
    return Material(m.name or f"material{index}", color, float(rough), m.alphaMode == gl.BLEND,  # type: ignore[arg-type]
                    bool(m.doubleSided))  # fmt: skip


def _head_joints(doc: gl.GLTF2, skin: gl.Skin) -> set[int]:
    """Joint slots of the skin that move with the head: the `head` joint and everything below it."""
    names = {i: doc.nodes[i].name for i in skin.joints}
    head = [i for i, n in names.items() if n == HEAD_JOINT]
    if not head:
        return set()
    below, stack = set(), [head[0]]
    while stack:
        i = stack.pop()
        below.add(i)
        stack.extend(doc.nodes[i].children or [])
    return {slot for slot, joint in enumerate(skin.joints) if joint in below}


def _triangles(reader: Reader, prim: gl.Primitive, n: int) -> np.ndarray | None:
    idx = reader.raw(prim.indices)[:, 0].astype(np.int64) if prim.indices is not None else np.arange(n)
    mode = gl.TRIANGLES if prim.mode is None else prim.mode
    if mode == gl.TRIANGLES:
        return idx[: len(idx) // 3 * 3].reshape(-1, 3)
    if mode == gl.TRIANGLE_STRIP and len(idx) >= 3:
        tris = np.stack([idx[:-2], idx[1:-1], idx[2:]], axis=1)
        tris[1::2] = tris[1::2][:, [1, 0, 2]]  # every other triangle of a strip is wound the other way
        return tris
    if mode == gl.TRIANGLE_FAN and len(idx) >= 3:
        return np.stack([np.full(len(idx) - 2, idx[0]), idx[1:-1], idx[2:]], axis=1)
    return None  # points and lines: nothing to shade


def load(path: Path | str) -> Scene:
    """The GLB at `path` as a Scene (ValueError if it holds no triangles)."""
    doc = gl.GLTF2().load_binary(str(path))
    compressed = [e for e in doc.extensionsUsed or [] if e in COMPRESSED]
    if compressed:
        raise ValueError(f"{path}: compressed meshes ({', '.join(compressed)}) are not supported here")
    reader = Reader(doc)
    world = _world_matrices(doc)
    head_pivot = None
    for i, m in world.items():
        if doc.nodes[i].name == HEAD_JOINT:
            head_pivot = m[:3, 3].copy()
            break
    prims: list[Primitive] = []
    for node_index, matrix in sorted(world.items()):
        node = doc.nodes[node_index]
        if node.mesh is None:
            continue
        mesh = doc.meshes[node.mesh]
        # A skinned mesh is placed by its joints; in the bind pose that is its node's own transform for rigs
        # exported the usual way (joints at rest, inverse bind matrices matching), which is what we assume.
        rot = matrix[:3, :3]
        names = list((mesh.extras or {}).get("targetNames", []))
        skin = doc.skins[node.skin] if node.skin is not None else None
        head_slots = _head_joints(doc, skin) if skin is not None else set()
        for prim in mesh.primitives:
            pos = reader.floats(prim.attributes.POSITION)
            tris = _triangles(reader, prim, len(pos))
            if tris is None or len(tris) == 0:
                continue
            pos = pos @ rot.T + matrix[:3, 3]
            normals = None
            if prim.attributes.NORMAL is not None:
                normals = reader.floats(prim.attributes.NORMAL) @ np.linalg.inv(rot)  # inverse transpose
                normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
            colors = None
            if prim.attributes.COLOR_0 is not None:
                c = reader.floats(prim.attributes.COLOR_0)
                colors = np.c_[c, np.ones(len(c))] if c.shape[1] == 3 else c
            targets = [reader.floats(t["POSITION"]) @ rot.T if t.get("POSITION") is not None
                       else np.zeros_like(pos) for t in (prim.targets or [])]  # fmt: skip
            head = np.zeros(len(pos))
            if head_slots and prim.attributes.JOINTS_0 is not None and prim.attributes.WEIGHTS_0 is not None:
                joints = reader.raw(prim.attributes.JOINTS_0)
                weights = reader.floats(prim.attributes.WEIGHTS_0)
                on_head = np.isin(joints, list(head_slots))
                total = np.maximum(weights.sum(1), 1e-12)
                head = (weights * on_head).sum(1) / total
            if len(names) != len(targets):
                names = [f"target{k}" for k in range(len(targets))]
            prims.append(
                Primitive(
                    positions=pos,
                    normals=normals,
                    colors=colors,
                    triangles=tris,
                    targets=np.array(targets).reshape(len(targets), len(pos), 3),
                    target_names=names,
                    material=_material(doc, prim.material),
                    head_weight=head,
                    mesh_name=mesh.name or "",
                )
            )
    if not prims:
        raise ValueError(f"{path}: no triangle meshes in the default scene")
    return Scene(prims, head_pivot if any(p.head_weight.any() for p in prims) else None)
