"""Bake the ICT-FaceKit face model into Mien's avatar asset, `models/ict_head.glb`.

    python models/bake_ict.py /path/to/ict-facekit [--out models/ict_head.glb] [--identity SEED] [--modes]

The input is the folder holding `ict_face_model.npz` (or the npz itself). The output is a glTF 2.0 binary:
one skinned mesh, one primitive per material, 51 ARKit-named morph targets on every primitive (names in
`mesh.extras.targetNames`, the three.js GLTFLoader convention), a two-joint skin (`root` at the base of the
neck, `head` at the top of the neck) so the client can turn the head without turning the shoulders.
Units are metres, +y up, the face looks toward +z. No textures: plain PBR materials, with vertex colours for
lips, brows, iris, mouth depth and lash fade. The eyeLook* targets also turn the eyeballs, and browDown* also
lowers the inner brow and draws it in (FACS AU4, see AU4_INNER_LOWER). The same input always gives the same
bytes. models/README.md describes the result.

Morph targets are sparse accessors (only the vertices a target moves) with deltas quantized to
normalized SHORT (KHR_mesh_quantization, 1/32767 m ≈ 0.03 mm steps), which keeps the file small.

`--modes` also writes `models/ict_identity.npz`, the identity data `mien avatar` reshapes the committed head
with (animation/avatar.py); `--identity SEED` bakes exactly what `mien avatar --identity SEED` makes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pygltflib as gl

try:
    from animation import avatar
    from animation.arkit import ARKIT_52
except ModuleNotFoundError:  # run as a plain script from a checkout: the repo root is one folder up
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from animation import avatar
    from animation.arkit import ARKIT_52

NPZ_NAME = "ict_face_model.npz"
DEFAULT_OUT = Path(__file__).resolve().parent / "ict_head.glb"
DEFAULT_MODES = Path(__file__).resolve().parent / "ict_identity.npz"
# Identity modes committed for `mien avatar`: the first 40 of ICT's 100 carry 98 % of the variance; the rest
# move vertices by well under a millimetre each.
IDENTITY_MODES = 40
CM_TO_M = 0.01
COPYRIGHT = "Derived from ICT-FaceKit, (c) 2020 USC Institute for Creative Technologies, MIT license"

# The mouth socket's vertex range in ICT (inclusive, from the ICT-FaceKit documentation).
MOUTH_SOCKET = (11248, 13293)

# ICT expressions that are split per side but are single shapes in ARKit: the halves are summed.
MERGED = {"browInnerUp", "cheekPuff"}
# ARKit shapes ICT does not model.
MISSING = ("tongueOut",)
TARGET_NAMES: tuple[str, ...] = tuple(n for n in ARKIT_52 if n not in MISSING)

# Deltas below half a quantization step round to zero, so the sparse targets hold only real motion.
QUANT = 32767.0

# ICT's eyeLook* shapes move only the lids; ARKit avatars also turn the eyeballs, so the bake adds a
# rotation of each eyeball about its centre to those targets (degrees at weight 1; linear blending of
# the rotation offsets is within ~0.3 mm of a true rotation at half weight).
GAZE_DEG = {"Up": 25.0, "Down": 30.0, "In": 30.0, "Out": 30.0}

# Eyes (cm, distances from the optical axis). ICT models the iris as a hollow inner sphere whose front is
# a flat disc (vertex rings at 0.19, 0.23, ... 0.567, then it curls back at ~0.65) with the pupil as a
# hole in it, inside an outer sclera sphere whose front cap is the (texture-transparent) cornea.
# Without textures: the pupil is the central disc of the iris (up to the 0.19 ring, a pupil about a
# third of the iris), the iris everything out to the curl; the cornea cap is dropped (a transparent
# layer over the iris only added sorting artefacts with the lashes).
PUPIL_RADIUS = 0.195
IRIS_RADIUS = 0.66
CORNEA_RADIUS = 0.6

# Skin: the head joint sits at the top of the neck (near C1, below the skull base); the weight of the
# head falls off smoothly over the neck below a plane that runs from the nape down to under the jaw,
# so the shoulders stay put. Values in cm in the ICT frame.
ROOT_JOINT_CM = (0.0, -15.0, -2.5)
HEAD_JOINT_CM = (0.0, -2.5, -2.0)
NECK_PLANE_Y0, NECK_PLANE_SLOPE = -8.6, -0.47  # head/neck boundary y = y0 + slope * z
NECK_FALLOFF = (-5.0, 0.5)  # signed height above that boundary where the head weight goes 0 -> 1


@dataclass(frozen=True)
class Part:
    """One primitive: a material and what it looks like (PBR metallic-roughness, no textures)."""

    name: str
    color: tuple[float, float, float, float]
    roughness: float
    blend: bool = False
    double_sided: bool = False


PARTS: tuple[Part, ...] = (
    Part("skin", (0.80, 0.60, 0.50, 1.0), 0.55),
    Part("mouth", (0.60, 0.28, 0.27, 1.0), 0.6),  # mouth socket: inner lips, cheeks, palate
    Part("gums", (0.70, 0.30, 0.30, 1.0), 0.45),  # gums and tongue
    Part("teeth", (0.90, 0.87, 0.78, 1.0), 0.35),
    Part("sclera", (0.93, 0.90, 0.86, 1.0), 0.3),
    Part("iris", (0.42, 0.26, 0.13, 1.0), 0.4),  # warm brown
    Part("pupil", (0.02, 0.02, 0.02, 1.0), 0.3, double_sided=True),  # seen from inside the iris shell
    Part("eyelashes", (0.05, 0.04, 0.035, 1.0), 0.7, blend=True, double_sided=True),
)
PART_INDEX = {p.name: i for i, p in enumerate(PARTS)}
# Not baked: lacrimal fluid, eye blend and eye occlusion (texture-driven overlays that render as grey shells
# without their textures), the cornea cap, the lower eyelashes.
DROP = -1


def load_ict(path: Path, identity: bool = False) -> dict[str, np.ndarray]:
    """Load the arrays the bake needs from the ICT npz (a folder holding it, or the file itself)."""
    npz = path / NPZ_NAME if path.is_dir() else path
    keys = ["neutral", "faces", "face_uvs", "uvs", "face_material", "material_names", "expression_names",
            "expression_deltas", "landmarks_multipie68"]  # fmt: skip
    if identity:  # 16 MB of modes: only read when a random identity is asked for
        keys.append("identity_deltas")
    with np.load(npz) as data:
        return {k: data[k] for k in keys}


def material_ids(data: dict[str, np.ndarray]) -> dict[str, int]:
    """ICT material name -> the id `face_material` uses."""
    return {str(name): i for i, name in enumerate(data["material_names"])}


def arkit_name(ict_name: str) -> str:
    """ICT `eyeBlink_L` -> ARKit `eyeBlinkLeft` (subject's left in both)."""
    if ict_name.endswith("_L"):
        return ict_name[:-2] + "Left"
    if ict_name.endswith("_R"):
        return ict_name[:-2] + "Right"
    return ict_name


def arkit_targets(names: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """ICT expression deltas -> float64 (51, V, 3) in TARGET_NAMES order (ARKit wire order)."""
    by_name: dict[str, np.ndarray] = {}
    for ict_name, delta in zip(names, deltas, strict=True):
        name = arkit_name(str(ict_name))
        unsided = name.removesuffix("Left").removesuffix("Right")
        if unsided in MERGED:
            name = unsided
        if name in by_name:  # the second half of a split shape
            by_name[name] = by_name[name] + delta.astype(np.float64)
        else:
            by_name[name] = delta.astype(np.float64)
    extra = sorted(set(by_name) - set(ARKIT_52))
    if extra:  # e.g. cheekRaiser_L/_R in some ICT releases: not ARKit, so not baked
        print(f"dropping non-ARKit ICT shapes: {', '.join(extra)}", file=sys.stderr)
    missing = [n for n in ARKIT_52 if n not in by_name]
    assert missing == list(MISSING), f"ICT lacks {missing}, expected only {list(MISSING)}"
    return np.stack([by_name[n] for n in TARGET_NAMES])


# Brow lowerer (FACS AU4: corrugator supercilii, depressor supercilii, procerus). AU4 lowers the brows and
# draws them together, the inner ends down most, bunching the skin between the brows (vertical wrinkles) and
# pushing the eye cover fold down (Ekman, Friesen & Hager 2002, FACS manual, AU 4). ARKit has one brow
# lowerer per side (browDown) and no inner-brow lowerer (weights are >= 0, so browInnerUp cannot go
# negative), so browDown has to carry all of AU4. ICT's scanned browDown lowers the middle of the brow
# ~3.8 mm but its inner end only ~2.2 mm and the skin between the brows ~1.4 mm: the brow drops almost flat
# and draws no angry V. The bake adds to each side's browDown:
#   - the negative of the same side's half of ICT's browInnerUp (the scanned inner-brow raise played
#     backwards, times AU4_INNER_LOWER: the same skin with the same forehead, glabella and upper-lid falloff),
#     weighted across the face by a smoothstep that is 1 out to AU4_LATERAL_CM[0] from the midline (the inner
#     end of the brow) and 0 from AU4_LATERAL_CM[1] on (the outer third, which AU4 barely lowers), and
#   - a medial pull of up to AU4_MEDIAL_CM, weighted by how far ICT's inner-brow raise moves each vertex
#     (relative to its largest motion) and by a smoothstep from 0 at the midline (so the sides meet without a
#     seam and the skin between the brows is compressed, not torn) to 1 at AU4_MEDIAL_RAMP_CM.
# With browDown 1 on both sides the inner end of the brow goes ~7.9 mm down (was 2.2) and ~3.7 mm toward
# the midline (was 2.1), the middle ~4.8 mm down (was 3.8), the tail ~1.1 mm (unchanged), the skin between
# the brows ~6 mm down; no vertex moves more than ~11 mm (was 6.5). FACS gives the directions and the order
# (inner end down most), not millimetres: the amounts are Mien's choice (AU4_INNER_LOWER 1: on top of ICT's
# own lowering, the inner end goes down as far as ICT's scan raises it), held by tests/models/test_glb.py;
# no skin folds over (tests/animation/test_apex_face.py).
AU4_INNER_LOWER = 1.0
AU4_LATERAL_CM = (1.5, 4.5)
AU4_MEDIAL_CM = 0.2
AU4_MEDIAL_RAMP_CM = 1.5


def add_brow_lowerer(targets: np.ndarray, data: dict[str, np.ndarray], neutral: np.ndarray) -> None:
    """Make each browDown act as FACS AU4 (see AU4_INNER_LOWER), in place."""
    ict = [str(n) for n in data["expression_names"]]
    for side, ict_side, toward_x in (("Left", "L", 1.0), ("Right", "R", -1.0)):
        inner_up = data["expression_deltas"][ict.index(f"browInnerUp_{ict_side}")].astype(np.float64)
        out = toward_x * neutral[:, 0]  # distance from the midline toward this side (cm; < 0 across it)
        lateral = smoothstep((AU4_LATERAL_CM[1] - out) / (AU4_LATERAL_CM[1] - AU4_LATERAL_CM[0]))
        moved = np.linalg.norm(inner_up, axis=1)
        medial = AU4_MEDIAL_CM * moved / moved.max() * smoothstep(out / AU4_MEDIAL_RAMP_CM)
        t = TARGET_NAMES.index(f"browDown{side}")
        targets[t] -= AU4_INNER_LOWER * lateral[:, None] * inner_up
        targets[t, :, 0] -= toward_x * medial


@dataclass(frozen=True)
class Eye:
    side: str  # "Left" (+x) or "Right"
    centre: np.ndarray  # (3,) eyeball centre (cm): the pivot of gaze
    disc: np.ndarray  # (3,) centre of the iris disc
    axis: np.ndarray  # (3,) unit normal of the iris disc: the optical axis at rest
    vertices: np.ndarray  # indices of the eyeball (sclera and iris spheres)


def fit_eye(neutral: np.ndarray, sclera: np.ndarray, iris: np.ndarray, side: str) -> Eye:
    """Eyeball centre by a least-squares sphere fit of the sclera; iris disc by a plane fit of the front
    of the iris sphere (its vertex rings are concentric, so the fit converges in a couple of passes)."""
    pts = neutral[sclera]
    a = np.c_[2.0 * pts, np.ones(len(pts))]
    centre = np.linalg.solve(a.T @ a, a.T @ (pts**2).sum(1))[:3]  # |p|² = 2p·c + (r² - |c|²)
    ipts = neutral[iris]
    axis = np.array([0.0, 0.0, 1.0])
    for _ in range(4):
        along = (ipts - centre) @ axis
        front = ipts[along > along.max() - 0.12]
        disc = front.mean(0)
        normal = np.linalg.svd(front - disc)[2][2]
        axis = normal * np.sign(normal @ axis)
    return Eye(side, centre, disc, axis, np.union1d(sclera, iris))


def radial(points: np.ndarray, eye: Eye) -> tuple[np.ndarray, np.ndarray]:
    """Distance in front of the iris disc along the eye's axis, and distance from the axis."""
    rel = points - eye.disc
    along = rel @ eye.axis
    return along, np.linalg.norm(rel - np.outer(along, eye.axis), axis=1)


def rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def add_gaze(targets: np.ndarray, neutral: np.ndarray, eyes: list[Eye]) -> None:
    """Add the eyeball rotation to each eyeLook* target (in place)."""
    for eye in eyes:
        toward_x = 1.0 if eye.side == "Left" else -1.0  # "Out" turns the left eye toward +x
        turns = {
            "Up": rotation("x", -GAZE_DEG["Up"]),  # R_x(+θ) turns +z toward -y
            "Down": rotation("x", GAZE_DEG["Down"]),
            "Out": rotation("y", toward_x * GAZE_DEG["Out"]),  # R_y(+θ) turns +z toward +x
            "In": rotation("y", -toward_x * GAZE_DEG["In"]),
        }
        rel = neutral[eye.vertices] - eye.centre
        for direction, rot in turns.items():
            t = TARGET_NAMES.index(f"eyeLook{direction}{eye.side}")
            targets[t, eye.vertices] += rel @ rot.T - rel


def classify(data: dict[str, np.ndarray], neutral: np.ndarray, eyes: list[Eye]) -> np.ndarray:
    """Part index (into PARTS) per ICT polygon, or DROP."""
    faces, material = data["faces"], data["face_material"]
    mat = material_ids(data)
    valid = faces >= 0
    corners = np.where(valid, faces, 0)
    centroid = (neutral[corners] * valid[..., None]).sum(1) / valid.sum(1, keepdims=True)
    in_socket = ((corners >= MOUTH_SOCKET[0]) & (corners <= MOUTH_SOCKET[1]) & valid).sum(1)

    part = np.full(len(faces), DROP, dtype=np.int64)
    part[material == mat["M_Face"]] = PART_INDEX["skin"]
    back = material == mat["M_BackHead"]
    # M_BackHead covers back of head, neck, mouth socket and eye sockets; a polygon with most corners in
    # the mouth-socket range is mouth interior, the rest (including the eye sockets) is skin.
    part[back] = PART_INDEX["skin"]
    part[back & (2 * in_socket > valid.sum(1))] = PART_INDEX["mouth"]
    part[material == mat["M_GumsTongue"]] = PART_INDEX["gums"]
    part[material == mat["M_Teeth"]] = PART_INDEX["teeth"]
    # Upper lashes only: without their texture the lower cards read as a grey smudge under the eye.
    lashes = material == mat["M_EyeLashes"]
    discs = np.array([e.disc for e in eyes])
    nearest = np.linalg.norm(centroid[:, None] - discs, axis=2).argmin(1)
    part[lashes & (centroid[:, 1] > discs[nearest, 1])] = PART_INDEX["eyelashes"]
    for eye in eyes:
        sclera = material == mat[f"M_Sclera{eye.side}"]
        iris = material == mat[f"M_Iris{eye.side}"]
        along, rad = radial(centroid, eye)
        front = along > -0.5
        part[sclera & ~(front & (rad < CORNEA_RADIUS))] = PART_INDEX["sclera"]  # cornea cap: dropped
        # ICT's iris sphere is a hollow shell open at the pupil (and at its back pole): everything of it
        # but the disc is seen only from inside, through the pupil, so it is pupil-dark, and so is the
        # back of the sclera seen through both holes.
        part[iris] = PART_INDEX["pupil"]
        part[iris & front & (rad < IRIS_RADIUS)] = PART_INDEX["iris"]
        part[(iris | (sclera & ~front)) & (rad < PUPIL_RADIUS)] = PART_INDEX["pupil"]
    return part


def smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def polyline_distance(points: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each point to a polyline, and where along it (0 at its first point, 1 at its last)."""
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.clip(np.einsum("nkj,kj->nk", points[:, None] - a, ab) / (ab**2).sum(1), 0.0, 1.0)
    dist = np.linalg.norm(points[:, None] - (a + t[..., None] * ab), axis=2)
    k = dist.argmin(1)
    rows = np.arange(len(points))
    return dist[rows, k], (k + t[rows, k]) / len(ab)


def polygon_signed_distance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """2D distance to a closed polygon's outline, negative inside (even-odd rule)."""
    closed = np.r_[polygon, polygon[:1]]
    dist, _ = polyline_distance(points, closed)
    a, b = closed[:-1], closed[1:]
    px, py = points[:, :1], points[:, 1:]
    crosses = (a[:, 1] > py) != (b[:, 1] > py)
    dy = np.where(b[:, 1] == a[:, 1], 1.0, b[:, 1] - a[:, 1])  # level edges never cross: any value
    x_at = a[:, 0] + (py - a[:, 1]) * (b[:, 0] - a[:, 0]) / dy
    inside = (crosses & (px < x_at)).sum(1) % 2 == 1
    return np.where(inside, -dist, dist)


# Vertex colours (COLOR_0, linear, multiplied with the material's base colour) stand in for the textures
# ICT ships: lips and brows on the skin, darkening with depth in the mouth, an iris with a dark limbal ring,
# sclera shaded toward the eye corners, eyelash cards fading from root to tip.
LIP_TINT = (0.86, 0.60, 0.64)  # on skin (0.80, 0.60, 0.50): a muted rose
BROW_TINT = (0.22, 0.17, 0.15)  # a dark brown
BROW_HALF_WIDTH = (0.65, 0.35)  # cm, at the inner end and at the tail
MOUTH_DEPTH = 5.0  # cm behind the lips where the mouth reaches its darkest
MOUTH_DARKEST = {"mouth": 0.22, "gums": 0.35, "teeth": 0.45}
LASH_ALPHA = 0.45  # at the root of each card; ICT stacks three cards per lid
LASH_LENGTH = 0.5  # of ICT's card length (see shorten_lashes)


def vertex_colors(data: dict[str, np.ndarray], neutral: np.ndarray, eyes: list[Eye]) -> dict[str, np.ndarray]:
    """RGBA multipliers per vertex (all V vertices) for the parts that get COLOR_0."""
    n = len(neutral)
    lm = neutral[data["landmarks_multipie68"]]
    colors: dict[str, np.ndarray] = {}

    # Skin: lips inside the outer lip contour (landmarks 48-59), brows along landmarks 17-21 and 22-26
    # (which trace the brows' upper edge, hence the shift down).
    skin = np.ones((n, 4))
    front = neutral[:, 2] > lm[48, 2] - 1.0
    lip = smoothstep((0.1 - polygon_signed_distance(neutral[:, :2], lm[48:60, :2])) / 0.3) * front
    skin[:, :3] += lip[:, None] * (np.array(LIP_TINT) - 1.0)
    for brow in (lm[21:16:-1], lm[22:27]):  # each from its inner end out
        line = brow - np.array([0.0, 0.3, 0.0])
        dist, along = polyline_distance(neutral, line)
        half = BROW_HALF_WIDTH[0] + along * (BROW_HALF_WIDTH[1] - BROW_HALF_WIDTH[0])
        same_side = np.sign(neutral[:, 0]) == np.sign(brow[0, 0])
        tint = 0.9 * smoothstep((half - dist) / (0.5 * half)) * same_side * (neutral[:, 2] > 5.0)
        skin[:, :3] += tint[:, None] * (np.array(BROW_TINT) - 1.0)
    colors["skin"] = skin

    # Mouth: the deeper behind the inner lip line (landmark 62), the darker (no ambient occlusion in the
    # client, so this is what keeps the back of the mouth from glowing).
    depth = smoothstep((lm[62, 2] - 0.5 - neutral[:, 2]) / MOUTH_DEPTH)
    for name, darkest in MOUTH_DARKEST.items():
        shade = 1.0 - (1.0 - darkest) * depth
        colors[name] = np.c_[shade, shade, shade, np.ones(n)]

    # Eyes: iris lighter mid-way, darker at the pupil edge and in a limbal ring; sclera greyer and
    # slightly pink toward the corners.
    iris = np.ones((n, 4))
    sclera = np.ones((n, 4))
    for eye in eyes:
        _, rad = radial(neutral[eye.vertices], eye)
        shade = 1.0 - 0.55 * smoothstep((rad - 0.42) / 0.16) - 0.3 * (1.0 - smoothstep((rad - 0.2) / 0.12))
        iris[eye.vertices, :3] = shade[:, None]
        corner = smoothstep((rad - 0.75) / 0.6)[:, None]
        sclera[eye.vertices, :3] = 1.0 - corner * (1.0 - np.array([0.78, 0.7, 0.68]))
    colors["iris"], colors["sclera"] = iris, sclera

    # Eyelashes: alpha fades from each card's root row to 0 at its tip row.
    quads, is_root = lash_cards(data, neutral, eyes)
    eyelashes = np.ones((n, 4))
    eyelashes[quads.reshape(-1), 3] = 0.0
    eyelashes[quads[is_root], 3] = LASH_ALPHA
    colors["eyelashes"] = eyelashes
    return colors


def lash_cards(
    data: dict[str, np.ndarray], neutral: np.ndarray, eyes: list[Eye]
) -> tuple[np.ndarray, np.ndarray]:
    """ICT's lash quads [m, 4] and which corners are on the root row. Each card is one row of quads whose
    uv v runs from root to tip; the root row is the one nearer the eye's centre."""
    lash = data["face_material"] == material_ids(data)["M_EyeLashes"]
    quads, v = data["faces"][lash], data["uvs"][data["face_uvs"][lash], 1]
    discs = np.array([e.disc for e in eyes])
    to_eye = np.linalg.norm(neutral[quads, None, :2] - discs[:, :2], axis=3).min(2)
    hi = v > v.mean(1, keepdims=True)
    hi_is_root = (to_eye * hi).sum(1) / hi.sum(1) < (to_eye * ~hi).sum(1) / (~hi).sum(1)
    return quads, hi == hi_is_root[:, None]


def shorten_lashes(data: dict[str, np.ndarray], neutral: np.ndarray, eyes: list[Eye],
                   *fields: np.ndarray) -> None:  # fmt: skip
    """Pull each lash card toward its roots, to LASH_LENGTH of its length, in the neutral and in each of
    `fields` (arrays [..., V, 3] of offsets that move with the mesh), in place.

    Without their strand texture the cards are translucent sheets; at full length a closed eye shows them as
    a grey band hanging below the lid. Shorter cards still draw the lash line of an open eye. Every lash
    vertex that is not on a root row moves toward the nearest root-row vertex (cards can have several rows,
    and where two cards meet a root of one may be a tip of the other, so only vertices that are never a tip
    count as roots)."""
    quads, is_root = lash_cards(data, neutral, eyes)
    roots = np.setdiff1d(quads[is_root], quads[~is_root])
    rest = np.setdiff1d(quads, roots)
    base = roots[np.linalg.norm(neutral[rest, None] - neutral[roots][None], axis=2).argmin(1)]
    for a in (neutral, *fields):
        a[..., rest, :] = a[..., base, :] + LASH_LENGTH * (a[..., rest, :] - a[..., base, :])


def triangulate(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quads (a, b, c, d) -> (a, b, c), (a, c, d); padded triangles pass through. Returns tris, source."""
    quad = faces[:, 3] >= 0
    first = faces[:, [0, 1, 2]]
    second = faces[quad][:, [0, 2, 3]]
    src = np.r_[np.arange(len(faces)), np.flatnonzero(quad)]
    tris = np.r_[first, second]
    order = np.argsort(src, kind="stable")  # keep each polygon's triangles together, in input order
    return tris[order], src[order]


def vertex_normals(pos: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted smooth normals (the unnormalized face normal's length is twice the area)."""
    p0, p1, p2 = pos[tris[:, 0]], pos[tris[:, 1]], pos[tris[:, 2]]
    fn = np.cross(p1 - p0, p2 - p0)
    vn = np.zeros_like(pos)
    for k in range(3):
        np.add.at(vn, tris[:, k], fn)
    length = np.linalg.norm(vn, axis=1, keepdims=True)
    return vn / np.where(length > 0, length, 1.0)


def head_weight(pos_cm: np.ndarray) -> np.ndarray:
    """Skin weight of the head joint per vertex: 1 on the head, 0 on the lower neck, smoothstep between."""
    above = pos_cm[:, 1] - (NECK_PLANE_Y0 + NECK_PLANE_SLOPE * pos_cm[:, 2])
    return smoothstep((above - NECK_FALLOFF[0]) / (NECK_FALLOFF[1] - NECK_FALLOFF[0]))


class BinBuilder:
    """One GLB buffer; every bufferView starts 4-byte aligned."""

    def __init__(self, gltf: gl.GLTF2) -> None:
        self.gltf = gltf
        self.chunks: list[bytes] = []
        self.size = 0
        self._zeros: dict[int, int] = {}

    def view(self, data: np.ndarray, target: int | None = None) -> int:
        raw = np.ascontiguousarray(data).tobytes()
        self.gltf.bufferViews.append(
            gl.BufferView(buffer=0, byteOffset=self.size, byteLength=len(raw), target=target)
        )
        pad = -len(raw) % 4
        self.chunks.append(raw + b"\0" * pad)
        self.size += len(raw) + pad
        return len(self.gltf.bufferViews) - 1

    def accessor(self, data: np.ndarray, kind: str, *, target: int | None = None,
                 normalized: bool = False, bounds: bool = False) -> int:  # fmt: skip
        """A plain accessor over a fresh bufferView; `bounds` adds min/max (required for POSITION)."""
        acc = gl.Accessor(
            bufferView=self.view(data, target),
            componentType=COMPONENT[data.dtype.str],
            normalized=normalized or None,
            count=len(data),
            type=kind,
        )
        if bounds:
            acc.min = [float(v) for v in data.min(0)]
            acc.max = [float(v) for v in data.max(0)]
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1

    def zeros(self, count: int) -> int:
        """An all-zero VEC3 accessor without storage (glTF fills an accessor without bufferView with
        zeros), shared by every target that does not move a primitive of `count` vertices."""
        if count not in self._zeros:
            self.gltf.accessors.append(gl.Accessor(byteOffset=None, componentType=gl.FLOAT, count=count,
                                                   type=gl.VEC3, min=[0.0] * 3, max=[0.0] * 3))  # fmt: skip
            self._zeros[count] = len(self.gltf.accessors) - 1
        return self._zeros[count]

    def blob(self) -> bytes:
        return b"".join(self.chunks)


COMPONENT = {
    np.dtype(np.float32).str: gl.FLOAT,
    np.dtype(np.uint8).str: gl.UNSIGNED_BYTE,
    np.dtype(np.uint16).str: gl.UNSIGNED_SHORT,
    np.dtype(np.uint32).str: gl.UNSIGNED_INT,
    np.dtype(np.int16).str: gl.SHORT,
}


def morph_accessor(b: BinBuilder, quantized: np.ndarray) -> int:
    """Sparse normalized-SHORT accessor holding only the moved vertices; an all-zero one if none move."""
    moved = np.flatnonzero(np.any(quantized != 0, axis=1))
    if len(moved) == 0:
        return b.zeros(len(quantized))
    values = quantized[moved]
    lo, hi = values.min(0), values.max(0)
    if len(moved) < len(quantized):  # the vertices left out are 0
        lo, hi = np.minimum(lo, 0), np.maximum(hi, 0)
    index_type = np.uint16 if len(quantized) <= 65536 else np.uint32
    sparse = gl.Sparse(
        count=len(moved),
        indices=gl.AccessorSparseIndices(bufferView=b.view(moved.astype(index_type)),
                                         componentType=COMPONENT[np.dtype(index_type).str]),
        values=gl.AccessorSparseValues(bufferView=b.view(values)),
    )  # fmt: skip
    b.gltf.accessors.append(
        gl.Accessor(
            byteOffset=None,
            componentType=gl.SHORT,
            normalized=True,
            count=len(quantized),
            type=gl.VEC3,
            sparse=sparse,
            min=[int(v) for v in lo],  # min/max of a normalized accessor are the stored integers
            max=[int(v) for v in hi],
        )
    )
    return len(b.gltf.accessors) - 1


def fit_eyes(data: dict[str, np.ndarray], neutral: np.ndarray) -> list[Eye]:
    material_of = material_ids(data)
    faces, material = data["faces"], data["face_material"]

    def vertices_of(material_name: str) -> np.ndarray:
        used = np.unique(faces[material == material_of[material_name]])
        return used[used >= 0]  # drop the triangles' -1 padding

    eyes = [
        fit_eye(neutral, vertices_of(f"M_Sclera{side}"), vertices_of(f"M_Iris{side}"), side)
        for side in ("Left", "Right")
    ]
    assert eyes[0].centre[0] > 0 > eyes[1].centre[0], "ICT's left eye should be on the subject's left (+x)"
    return eyes


def build(data: dict[str, np.ndarray], neutral_cm: np.ndarray) -> tuple[gl.GLTF2, list[np.ndarray]]:
    """The glTF document (with its binary blob set) for one neutral shape, and each primitive's ICT vertex
    indices (its vertex order)."""
    neutral = neutral_cm.astype(np.float64)
    faces = data["faces"]
    eyes = fit_eyes(data, neutral)

    targets = arkit_targets(data["expression_names"], data["expression_deltas"])
    add_brow_lowerer(targets, data, neutral)
    shorten_lashes(data, neutral, eyes, targets)
    add_gaze(targets, neutral, eyes)
    part = classify(data, neutral, eyes)
    tris, src = triangulate(faces)
    tri_part = part[src]
    keep = tri_part != DROP
    tris, tri_part = tris[keep], tri_part[keep]

    colors = vertex_colors(data, neutral, eyes)
    normals = vertex_normals(neutral, tris)
    nose = data["landmarks_multipie68"][30]
    assert normals[nose, 2] > 0.9, "polygons should wind counter-clockwise seen from outside"
    weight = np.round(head_weight(neutral) * 255).astype(np.uint8)
    pos_m = (neutral * CM_TO_M).astype(np.float32)
    assert np.abs(targets).max() * CM_TO_M < 0.99, "a delta beyond 1 m would overflow normalized SHORT"
    quantized = np.round(targets * (CM_TO_M * QUANT)).astype(np.int16)

    gltf = gl.GLTF2(
        asset=gl.Asset(
            generator="Mien bake_ict.py",
            copyright=COPYRIGHT,
        ),
        extensionsUsed=["KHR_mesh_quantization"],
        extensionsRequired=["KHR_mesh_quantization"],
    )
    b = BinBuilder(gltf)
    for p in PARTS:
        gltf.materials.append(
            gl.Material(
                name=p.name,
                pbrMetallicRoughness=gl.PbrMetallicRoughness(
                    baseColorFactor=list(p.color), metallicFactor=0.0, roughnessFactor=p.roughness
                ),
                alphaMode=gl.BLEND if p.blend else gl.OPAQUE,
                doubleSided=p.double_sided,
            )
        )

    primitives, prim_vertices = [], []
    for index, p in enumerate(PARTS):
        ptris = tris[tri_part == index]
        verts, local = np.unique(ptris, return_inverse=True)  # sorted: stable vertex order
        prim_vertices.append(verts)
        local = local.reshape(-1, 3)
        n = len(verts)
        joints = np.zeros((n, 4), dtype=np.uint8)
        joints[:, 1] = weight[verts] > 0  # joint 0 = root, joint 1 = head (left 0 where unweighted)
        weights = np.zeros((n, 4), dtype=np.uint8)
        weights[:, 1] = weight[verts]
        weights[:, 0] = 255 - weight[verts]  # byte weights sum to exactly 255 (= 1.0)
        attributes = gl.Attributes(
            POSITION=b.accessor(pos_m[verts], gl.VEC3, target=gl.ARRAY_BUFFER, bounds=True),
            NORMAL=b.accessor(normals[verts].astype(np.float32), gl.VEC3, target=gl.ARRAY_BUFFER),
            JOINTS_0=b.accessor(joints, gl.VEC4, target=gl.ARRAY_BUFFER),
            WEIGHTS_0=b.accessor(weights, gl.VEC4, target=gl.ARRAY_BUFFER, normalized=True),
        )
        if p.name in colors:
            rgba = np.round(np.clip(colors[p.name][verts], 0.0, 1.0) * 255).astype(np.uint8)
            attributes.COLOR_0 = b.accessor(rgba, gl.VEC4, target=gl.ARRAY_BUFFER, normalized=True)
        index_type = np.uint16 if n <= 65535 else np.uint32
        indices = b.accessor(local.reshape(-1).astype(index_type), gl.SCALAR, target=gl.ELEMENT_ARRAY_BUFFER)
        morphs = [gl.Attributes(POSITION=morph_accessor(b, q[verts])) for q in quantized]
        primitives.append(
            gl.Primitive(attributes=attributes, indices=indices, material=index, targets=morphs)
        )

    gltf.meshes.append(
        gl.Mesh(name="ict_head", primitives=primitives, extras={"targetNames": list(TARGET_NAMES)})
    )
    root = np.array(ROOT_JOINT_CM) * CM_TO_M
    head = np.array(HEAD_JOINT_CM) * CM_TO_M
    # Nodes: 0 mesh, 1 root joint, 2 head joint (child of root). Both joints are unrotated in the bind
    # pose, so their inverse bind matrices are pure translations (column-major).
    gltf.nodes = [
        gl.Node(name="ict_head", mesh=0, skin=0),
        gl.Node(name="root", translation=[float(v) for v in root], children=[2]),
        gl.Node(name="head", translation=[float(v) for v in head - root]),
    ]
    ibm = np.zeros((2, 16), dtype=np.float32)
    for j, at in enumerate((root, head)):
        m = np.eye(4)
        m[:3, 3] = -at
        ibm[j] = m.T.reshape(-1)
    gltf.skins.append(gl.Skin(name="neck", inverseBindMatrices=b.accessor(ibm, gl.MAT4), joints=[1, 2],
                              skeleton=1))  # fmt: skip
    gltf.scenes.append(
        gl.Scene(
            name="Mien ICT head",
            nodes=[0, 1],
            extras={"units": "metres", "up": "+y", "facing": "+z", "source": "ICT-FaceKit (MIT)"},
        )
    )
    gltf.scene = 0
    blob = b.blob()
    gltf.buffers.append(gl.Buffer(byteLength=len(blob)))
    gltf.set_binary_blob(blob)
    return gltf, prim_vertices


def bake(path: Path, identity_seed: int | None = None) -> bytes:
    """GLB bytes for the ICT model at `path`; with a seed, a random identity, made exactly as `mien avatar
    --identity SEED` makes it (animation.avatar), from modes derived afresh from this data."""
    data = load_ict(path, identity=identity_seed is not None)
    gltf, prim_vertices = build(data, data["neutral"])
    glb = b"".join(gltf.save_to_bytes())
    if identity_seed is None:
        return glb
    modes = derive_modes(data, prim_vertices)
    w = avatar.identity_weights(identity_seed, IDENTITY_MODES)
    return avatar.reshape_glb(glb, modes, w, {"identitySeed": identity_seed, "identityStrength": 1.0})


def derive_modes(data: dict[str, np.ndarray], prim_vertices: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The committed identity data (models/ict_identity.npz): ICT's first IDENTITY_MODES identity modes, only
    at the vertices the GLB uses, in metres, int8 with one scale per mode (delta = modes * scale)."""
    used = np.unique(np.concatenate(prim_vertices))
    modes = data["identity_deltas"][:IDENTITY_MODES].astype(np.float64)
    neutral = data["neutral"].astype(np.float64)
    shorten_lashes(data, neutral, fit_eyes(data, neutral), modes)  # as the bake shortens the lashes
    deltas = modes[:, used] * CM_TO_M
    scale = np.abs(deltas).max(axis=(1, 2)) / 127.0
    quantized = np.round(deltas / scale[:, None, None]).astype(np.int8)
    return {
        "modes": quantized,
        "scale": scale.astype(np.float64),
        "rows": np.concatenate([np.searchsorted(used, v) for v in prim_vertices]).astype(np.uint16),
        "counts": np.array([len(v) for v in prim_vertices], dtype=np.int32),
    }


def bake_modes(path: Path) -> dict[str, np.ndarray]:
    data = load_ict(path, identity=True)
    _, prim_vertices = build(data, data["neutral"])
    return derive_modes(data, prim_vertices)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help=f"ICT-FaceKit folder holding {NPZ_NAME}, or the npz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output GLB (default: %(default)s)")
    parser.add_argument("--identity", type=int, metavar="SEED", help="add a random identity from this seed")
    modes_help = "also write the identity modes for `mien avatar` (default: %(const)s)"
    parser.add_argument("--modes", type=Path, nargs="?", const=DEFAULT_MODES, metavar="NPZ", help=modes_help)
    args = parser.parse_args(argv)
    glb = bake(args.data, args.identity)
    args.out.write_bytes(glb)
    print(f"wrote {args.out} ({len(glb) / 1e6:.2f} MB, {len(TARGET_NAMES)} morph targets)")
    if args.modes:
        np.savez_compressed(args.modes, **bake_modes(args.data))
        size = args.modes.stat().st_size / 1e6
        print(f"wrote {args.modes} ({size:.2f} MB, {IDENTITY_MODES} identity modes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
