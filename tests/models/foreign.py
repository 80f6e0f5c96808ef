"""A tiny "foreign" avatar for tests: a GLB not made by Mien, whose morph targets carry another tool's names
(`blendShape1.mouthSmile_L` style), with most ARKit shapes missing. Built with pygltflib."""

from __future__ import annotations

import numpy as np
import pygltflib as gl

# Morph names as a Maya/FBX export would write them; only three drive ARKit channels, "Basis" none.
TARGETS = ("blendShape1.mouthSmile_L", "blendShape1.mouthSmile_R", "jawOpen", "Basis")
# The ARKit channels those map to, in the same order (None: no channel).
ARKIT = ("mouthSmileLeft", "mouthSmileRight", "jawOpen", None)


def foreign_glb(names: tuple[str, ...] = TARGETS, node_name: str = "Foreign") -> bytes:
    """A 0.2 m square 'face' of 8x8 quads facing +z, one morph per name: target k lifts row k's vertices
    by 2 cm (so each target's motion is easy to find)."""
    n = 9
    xs, ys = np.meshgrid(np.linspace(-0.1, 0.1, n), np.linspace(-0.1, 0.1, n))
    pos = np.c_[xs.ravel(), ys.ravel(), np.zeros(n * n)].astype(np.float32)
    quads = [
        (r * n + c, r * n + c + 1, (r + 1) * n + c + 1, (r + 1) * n + c)
        for r in range(n - 1)
        for c in range(n - 1)
    ]
    tris = np.array([[a, b, c] for a, b, c, d in quads] + [[a, c, d] for a, b, c, d in quads], np.uint16)
    normals = np.tile(np.array([0, 0, 1], np.float32), (n * n, 1))
    targets = []
    for k in range(len(names)):
        delta = np.zeros_like(pos)
        delta[np.arange(n) + (k + 1) * n, 1] = 0.02
        targets.append(delta)

    chunks: list[bytes] = []
    views: list[gl.BufferView] = []
    accessors: list[gl.Accessor] = []

    def add(data: np.ndarray, kind: str, component: int, target: int | None, bounds: bool = False) -> int:
        raw = data.tobytes()
        offset = sum(len(c) for c in chunks)
        chunks.append(raw + b"\0" * (-len(raw) % 4))
        views.append(gl.BufferView(buffer=0, byteOffset=offset, byteLength=len(raw), target=target))
        acc = gl.Accessor(bufferView=len(views) - 1, componentType=component, count=len(data), type=kind)
        if bounds:
            acc.min, acc.max = data.min(0).tolist(), data.max(0).tolist()
        accessors.append(acc)
        return len(accessors) - 1

    attrs = gl.Attributes(
        POSITION=add(pos, gl.VEC3, gl.FLOAT, gl.ARRAY_BUFFER, bounds=True),
        NORMAL=add(normals, gl.VEC3, gl.FLOAT, gl.ARRAY_BUFFER),
    )
    indices = add(tris.reshape(-1), gl.SCALAR, gl.UNSIGNED_SHORT, gl.ELEMENT_ARRAY_BUFFER)
    morphs = [
        gl.Attributes(POSITION=add(t, gl.VEC3, gl.FLOAT, gl.ARRAY_BUFFER, bounds=True)) for t in targets
    ]
    blob = b"".join(chunks)
    pbr = gl.PbrMetallicRoughness(
        baseColorFactor=[0.8, 0.6, 0.5, 1.0], metallicFactor=0.0, roughnessFactor=0.6
    )
    material = gl.Material(name="skin", pbrMetallicRoughness=pbr)
    doc = gl.GLTF2(
        asset=gl.Asset(generator="Mien tests (foreign-style avatar)"),
        scene=0,
        scenes=[gl.Scene(nodes=[0])],
        nodes=[gl.Node(name=node_name, mesh=0)],
        meshes=[
            gl.Mesh(
                name="FaceMesh",
                primitives=[gl.Primitive(attributes=attrs, indices=indices, material=0, targets=morphs)],
                weights=[0.0] * len(names),
                extras={"targetNames": list(names)},
            )
        ],
        materials=[material],
        accessors=accessors,
        bufferViews=views,
        buffers=[gl.Buffer(byteLength=len(blob))],
    )
    doc.set_binary_blob(blob)
    return b"".join(doc.save_to_bytes())


def moved_row(k: int) -> np.ndarray:
    """Vertex indices target k moves."""
    return np.arange(9) + (k + 1) * 9
