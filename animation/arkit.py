"""The ARKit-52 blendshape names in wire order: the only list of them in Mien.

Order follows Apple's ARFaceAnchor.BlendShapeLocation as exported by Live Link Face
(eyes, jaw, mouth, brows, cheeks, nose, tongue). Three head-rotation channels follow the 52.
"""

from __future__ import annotations

ARKIT_52: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)  # fmt: skip

# Head rotation in radians (subject's frame: +yaw turns to the subject's left, +pitch nods down,
# +roll tilts toward the subject's right shoulder).
HEAD_CHANNELS: tuple[str, ...] = ("headYaw", "headPitch", "headRoll")

CHANNELS: tuple[str, ...] = ARKIT_52 + HEAD_CHANNELS
N_BLENDSHAPES = len(ARKIT_52)
N_CHANNELS = len(CHANNELS)
INDEX: dict[str, int] = {name: i for i, name in enumerate(CHANNELS)}

# Head channels live in [-HEAD_RANGE, HEAD_RANGE] radians (about ±34°), blendshapes in [0, 1].
HEAD_RANGE = 0.6

assert N_BLENDSHAPES == 52 and len(set(ARKIT_52)) == 52
