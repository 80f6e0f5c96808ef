"""Layer order and region masks: how emotion, speech and idle life share one face.

Every frame is built bottom-up, for all faces at once (FaceBank.step):

    1. emotion   AU space -> ARKit (dynamics, modulation, facs): envelopes toward the mood baseline,
                 gains, contrast, max emotions, AU sums with antagonists resolved and saturation,
                 expressiveness x upper/lower face strength, slew limit (in AU space, so that no channel
                 moves more than the limit per frame). Writes every blendshape; the head channels stay 0.
    2. speech    owns the jaw and lips (SPEECH_CHANNELS: ARKit's jaw + mouth block and tongueOut):
                 emotion x (1 - activity x OWN) + visemes, where OWN is 1 except for the smile, frown
                 and dimple shapes, which keep a fraction (visemes.toml [layering] keep) of the emotion,
                 so a smile survives talking. A bilabial closure then closes the lips outright
                 (mouthClose = jawOpen, lip-parting shapes 0). Speech never touches eyes, brows, cheeks
                 or nose, so the upper face keeps the emotion.
    3. idle      gaze owns eyeLook*: the emotion's own eye direction (thinking looks up) is read
                 first and added to the gaze direction as a bias, then the eight channels are set
                 from the sum. Blinks add to the expression's eye closure by soft union (never an
                 overwrite: a closed-eye expression stays closed, a squint is left as it is, and a
                 blink due over nearly shut eyes is skipped); eyeWide relaxes during a blink.
                 Head: sway + breathing + the head's share of gaze shifts + the emotions' posture
                 (FACS head codes 51-56, followed slowly: animation.head).
    3b. gestures  ([nod], [wink], [laugh]: animation.gestures) add on top, before blinks and gaze: their
                 blendshapes are added (speech keeps the jaw and lips it owns: on speech channels a gesture
                 gets only the share speech leaves the emotion), their eye direction adds to the gaze's
                 and their head rotation to the head's, so a blink still closes over a wink.
    3c. listening while the user speaks to a listening face, its brows rise with their emphasis
                 (animation.listening): added to the brows the expression and gestures made, clipped,
                 after the gestures and before the blinks (which it times: they wait through emphasis).
    4. clip      every layer keeps its own range, so the frame is already in [0, 1] (blendshapes) and
                 [-HEAD_RANGE, HEAD_RANGE] (head); the mouth and head are clipped where they combine.

The masks below are the whole contract: a layer writes only its region.
"""

from __future__ import annotations

import numpy as np

from animation.arkit import HEAD_RANGE, INDEX, N_BLENDSHAPES, N_CHANNELS
from animation.kernels import clip
from animation.listening import BROW_CHANNELS, BROW_WEIGHTS
from animation.states import GAZE
from animation.visemes import LAYERING, MOUTH, N_SPEECH, SPEECH_CHANNELS, SPEECH_INDEX

TONGUE = INDEX["tongueOut"]
HEAD = slice(N_BLENDSHAPES, N_BLENDSHAPES + 3)

# Speech: per speech channel, the share of the emotion that speech takes over at full activity.
OWN = np.ones(N_SPEECH, np.float32)
for _name, _keep in LAYERING["keep"].items():
    OWN[SPEECH_INDEX[_name]] = 1.0 - float(_keep)
OWN.setflags(write=False)
LIP_PARTING = np.array([SPEECH_INDEX[n] for n in LAYERING["lip_parting"]], np.intp)
_CLOSE, _JAW = SPEECH_INDEX["mouthClose"], SPEECH_INDEX["jawOpen"]
_N_MOUTH = MOUTH.stop - MOUTH.start
assert SPEECH_CHANNELS[:_N_MOUTH] == tuple(range(MOUTH.start, MOUTH.stop)) and SPEECH_CHANNELS[-1] == TONGUE

# Gaze: the eight eyeLook channels, owned by the gaze layer.
L_DOWN, L_IN, L_OUT, L_UP = (INDEX[f"eyeLook{d}Left"] for d in ("Down", "In", "Out", "Up"))
R_DOWN, R_IN, R_OUT, R_UP = (INDEX[f"eyeLook{d}Right"] for d in ("Down", "In", "Out", "Up"))
GAZE_CHANNELS: tuple[int, ...] = (L_DOWN, L_IN, L_OUT, L_UP, R_DOWN, R_IN, R_OUT, R_UP)
RANGE_H, RANGE_V = float(GAZE["range_h"]), float(GAZE["range_v"])

# Blinks: the lids, and the eyeWide shapes they relax.
L_BLINK, R_BLINK = INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]
L_WIDE, R_WIDE = INDEX["eyeWideLeft"], INDEX["eyeWideRight"]
L_SQUINT, R_SQUINT = INDEX["eyeSquintLeft"], INDEX["eyeSquintRight"]
BLINK_CHANNELS: tuple[int, ...] = (L_BLINK, R_BLINK, L_WIDE, R_WIDE)
# How much eyeSquint counts as closure (it narrows the eye from below, not fully).
SQUINT_CLOSURE = 0.4

# Every channel idle life moves on its own (tests and tools separate it from the expression).
IDLE_CHANNELS: tuple[int, ...] = GAZE_CHANNELS + BLINK_CHANNELS


def blend_speech(frame: np.ndarray, rows: slice | np.ndarray, shape: np.ndarray, aux: np.ndarray) -> None:
    """Layer speech over the emotion in place: shape [rows, N_SPEECH], aux [rows, 2] (activity, closure).

    rows: the faces speech.step_speech returned (an index array, or slice(None) for all faces, where
    faces with activity and closure 0 and no shape come out bitwise unchanged).
    """
    if len(shape) == 0:
        return
    activity, closure = aux[:, 0:1], aux[:, 1:2]
    mouth = np.empty_like(shape)
    mouth[:, :_N_MOUTH] = frame[rows, MOUTH]
    mouth[:, -1] = frame[rows, TONGUE]
    keep = activity * OWN
    np.subtract(1.0, keep, out=keep)
    mouth *= keep
    mouth += shape
    # Bilabial closure: the lips meet whatever the jaw does (ARKit: mouthClose = jawOpen closes them).
    close = mouth[:, _CLOSE]
    close += closure[:, 0] * (mouth[:, _JAW] - close)
    mouth[:, LIP_PARTING] *= 1.0 - closure
    clip(mouth, 0.0, 1.0, out=mouth)
    frame[rows, MOUTH] = mouth[:, :_N_MOUTH]
    frame[rows, TONGUE] = mouth[:, -1]


def add_gestures(frame: np.ndarray, rows: np.ndarray, shapes: np.ndarray, activity: np.ndarray) -> None:
    """Add gesture blendshapes [len(rows), 52] to the listed rows in place; `activity` [n]: how much speech
    owns each face's mouth (0..1), which the gesture's jaw and lips yield to as the emotion's do."""
    if rows.size == 0:
        return
    add = shapes.copy()
    speaking = activity[rows].astype(np.float32)[:, None]
    add[:, MOUTH] *= 1.0 - speaking * OWN[:_N_MOUTH]
    add[:, TONGUE] = 0.0
    blend = frame[rows, :N_BLENDSHAPES] + add
    frame[rows, :N_BLENDSHAPES] = clip(blend, 0.0, 1.0, out=blend)


def add_brows(frame: np.ndarray, rows: np.ndarray, lift: np.ndarray) -> None:
    """Raise the listed rows' brows by `lift` [len(rows)] (0..1) of listening.BROW_WEIGHTS, in place: added
    to what the expression made and clipped, so a frown keeps its browDown and a surprise its raise."""
    if rows.size == 0:
        return
    cells = rows[:, None], BROW_CHANNELS
    brows = frame[cells] + lift.astype(np.float32)[:, None] * BROW_WEIGHTS
    frame[cells] = clip(brows, 0.0, 1.0, out=brows)


def _eye_bias() -> np.ndarray:
    m = np.zeros((N_CHANNELS, 2), np.float32)
    for ch, sign in ((L_OUT, 1), (L_IN, -1), (R_IN, 1), (R_OUT, -1)):
        m[ch, 0] = sign * 0.5 * RANGE_H
    for ch, sign in ((L_UP, 1), (L_DOWN, -1), (R_UP, 1), (R_DOWN, -1)):
        m[ch, 1] = sign * 0.5 * RANGE_V
    return m


# [55, 2]: a frame's eyeLook channels -> eye direction (h, v) in degrees. Read from the emotion layer, it
# turns the expression's own gaze (thinking looks up and aside) into a bias on the gaze direction.
EYE_BIAS = _eye_bias()

# [55]: a frame -> how shut the expression holds the eyes (mean of both; clip to [0, 1] after).
CLOSURE = np.zeros(N_CHANNELS, np.float32)
CLOSURE[[L_BLINK, R_BLINK]] = 0.5
CLOSURE[[L_SQUINT, R_SQUINT]] = 0.5 * SQUINT_CLOSURE


# Direction (h, v) in degrees -> the eight eyeLook channels, before clipping to [0, 1]. Looking to the
# subject's left (+h) turns the left eye out and the right eye in.
_GAZE_MATRIX = np.zeros((2, len(GAZE_CHANNELS)), np.float32)
for _i, (_ch, _axis, _sign) in enumerate(
    (
        (L_DOWN, 1, -1), (L_IN, 0, -1), (L_OUT, 0, 1), (L_UP, 1, 1),
        (R_DOWN, 1, -1), (R_IN, 0, 1), (R_OUT, 0, -1), (R_UP, 1, 1),
    )
):  # fmt: skip
    assert GAZE_CHANNELS[_i] == _ch
    _GAZE_MATRIX[_axis, _i] = _sign / (RANGE_H if _axis == 0 else RANGE_V)
_GAZE_COLUMNS = np.array(GAZE_CHANNELS, np.intp)


def apply_gaze(frame: np.ndarray, direction: np.ndarray) -> None:
    """Set the eyeLook channels from directions [n, 2] in degrees (+h toward the subject's left, +v up)."""
    look = direction.astype(np.float32) @ _GAZE_MATRIX
    frame[:, _GAZE_COLUMNS] = clip(look, 0.0, 1.0, out=look)


_LIDS = np.array([L_BLINK, R_BLINK], np.intp)
_WIDE = np.array([L_WIDE, R_WIDE], np.intp)


def apply_blink(frame: np.ndarray, rows: np.ndarray, lids: np.ndarray) -> None:
    """Layer blink lid closures (one per listed row) over the expression's eyes, in place.

    Soft union e + b - e*b, never an overwrite: the result is >= both the expression's own eye closure
    and the blink, so a closed-eye expression stays closed through a blink (a reported failure of
    avatar systems that set eyeBlink outright). eyeWide is relaxed during the blink, because a raised
    upper lid would otherwise hold the eye open against it.
    """
    if rows.size == 0:
        return
    b = lids.astype(np.float32)[:, None]
    e = frame[rows[:, None], _LIDS]
    frame[rows[:, None], _LIDS] = e + b - e * b
    frame[rows[:, None], _WIDE] *= 1.0 - b


def set_head(frame: np.ndarray, head: np.ndarray) -> None:
    """Write head (yaw, pitch, roll) radians [n, 3], clipped to the wire's range."""
    frame[:, HEAD] = clip(head, -HEAD_RANGE, HEAD_RANGE)
