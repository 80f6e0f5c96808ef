"""Gestures: short head, eye and face movements the model asks for ([nod], [shake], [laugh], ...) and the
voice's beats on stressed words, for many faces at once.

The curves are data (data/gestures.toml, one formula with a row of numbers per gesture, sources there).
Each face holds up to SLOTS scheduled gestures (gesture, start, intensity); a step evaluates only the faces
with one under way and returns what they add: blendshapes, head (yaw, pitch, roll) radians and eye
direction (h, v) degrees. The bank adds them on top of the other layers (animation.mixer.add_gestures):
speech keeps the jaw and lips it owns, blinks add to a wink's lid by soft union, gaze adds to an eyeroll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from animation.arkit import INDEX, N_BLENDSHAPES
from animation.emotions import load_table
from animation.kernels import smoothstep
from animation.rows import RowArrays

_TABLE = load_table("gestures.toml")["gesture"]

MOVES: tuple[str, ...] = tuple(_TABLE)  # every movement the layer makes (the voice's beat too)
GESTURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(MOVES)}
# The gestures a reply may ask for (tags, stage directions, hello.gestures); a beat is the voice's own.
GESTURES: tuple[str, ...] = tuple(name for name, g in _TABLE.items() if g.get("tag", True))
ALIASES: dict[str, str] = {
    alias: name for name in GESTURES for alias in (name, *_TABLE[name].get("aliases", ()))
}
# Gestures a face can have scheduled or under way at once: a spoken sentence's beats (a few) and gestures,
# for the several sentences a fast reply's voice may have scheduled ahead.
SLOTS = 16


def _column(key: str, default: float = 0.0) -> np.ndarray:
    return np.array([float(g.get(key, default)) for g in _TABLE.values()])


def _vectors(key: str, width: int) -> np.ndarray:
    return np.array([g.get(key, [0.0] * width) for g in _TABLE.values()], dtype=np.float64)


def _shapes(key: str) -> np.ndarray:
    out = np.zeros((len(MOVES), N_BLENDSHAPES), np.float32)
    for i, g in enumerate(_TABLE.values()):
        for channel, weight in g.get(key, {}).items():
            out[i, INDEX[channel]] = weight
    return out


DURATION = _column("duration")
ATTACK = _column("attack")
RELEASE = _column("release")
HEAD_OFFSET = _vectors("head_offset", 3)
HEAD_AMPLITUDE = _vectors("head_amplitude", 3)
HEAD_HZ = _column("head_hz")
SHAPES = _shapes("shapes")
PULSE = _shapes("pulse")
PULSE_HZ = _column("pulse_hz")
EYE_RADIUS = _column("eye_radius")
YIELDS = np.array([bool(g.get("yields", False)) for g in _TABLE.values()])  # gives way when slots are full
LONGEST = float(DURATION.max())
assert all(d > a + r > 0 for d, a, r in zip(DURATION, ATTACK, RELEASE, strict=True)), "gestures.toml timings"


def resolve(word: str) -> str | None:
    """A tag or stage-direction word -> the gesture's name, or None (case-insensitive)."""
    return ALIASES.get(word.strip().lower())


@dataclass
class Gestures(RowArrays):
    """Per face: [n, SLOTS] gesture index (-1: free), start time and intensity."""

    kind: np.ndarray
    start: np.ndarray
    level: np.ndarray

    FILL: ClassVar[dict[str, float]] = {"kind": -1}

    @classmethod
    def empty(cls, n: int) -> Gestures:
        g = cls(np.zeros((0, SLOTS), np.intp), np.zeros((0, SLOTS)), np.zeros((0, SLOTS)))
        g.grow(n)
        return g


def schedule(g: Gestures, row: int, kind: int, t: float, level: float, now: float) -> None:
    """Start gesture `kind` at time t: in a free slot (or one whose gesture has ended by now). When every
    slot is taken, the most expendable of the new one and those not yet begun gives way: one that yields
    (a beat) before one that doesn't, then the latest; with none waiting, the one that started first."""
    kinds, starts = g.kind[row], g.start[row]
    ends = np.where(kinds >= 0, starts + DURATION[kinds], -np.inf)
    free = np.flatnonzero(ends <= now)
    if free.size:
        k = int(free[0])
    elif (waiting := np.flatnonzero(starts > now)).size:
        k = int(max(waiting, key=lambda i: (YIELDS[kinds[i]], starts[i])))
        if (YIELDS[kind], t) > (YIELDS[kinds[k]], starts[k]):
            return  # the new one is the most expendable
    else:
        k = int(np.argmin(starts))
    g.kind[row, k], g.start[row, k], g.level[row, k] = kind, t, level


def drop_pending(g: Gestures, row: int, t: float) -> None:
    """Forget the gestures not yet started at t; one under way finishes (a head never snaps back)."""
    g.kind[row, g.start[row] > t] = -1


def step_gestures(g: Gestures, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What the gestures under way add at time t: (rows, shapes [r, 52], head [r, 3], eyes [r, 2]) for
    the faces `rows` that have one; slots whose gesture has ended are freed."""
    kind = g.kind
    tau = t - g.start
    used = kind >= 0
    safe = np.where(used, kind, 0)
    done = used & (tau >= DURATION[safe])
    if done.any():
        kind[done] = -1
        used &= ~done
    on = used & (tau >= 0.0)
    rows = np.flatnonzero(on.any(axis=1))
    if rows.size == 0:
        return rows, np.zeros((0, N_BLENDSHAPES), np.float32), np.zeros((0, 3)), np.zeros((0, 2))
    on, tau, k = on[rows], tau[rows], safe[rows]
    env = smoothstep(tau / ATTACK[k]) * smoothstep((DURATION[k] - tau) / RELEASE[k])
    env *= np.where(on, g.level[rows], 0.0)  # [r, SLOTS]
    wave = np.sin(2.0 * np.pi * HEAD_HZ[k] * tau)
    head = np.einsum("rs,rsc->rc", env, HEAD_OFFSET[k] + HEAD_AMPLITUDE[k] * wave[..., None])
    pulse = 0.5 - 0.5 * np.cos(2.0 * np.pi * PULSE_HZ[k] * tau)
    shapes = np.einsum("rs,rsc->rc", env, SHAPES[k] + PULSE[k] * pulse[..., None].astype(np.float32))
    theta = np.pi * (1.0 - tau / DURATION[k])
    arc = env * EYE_RADIUS[k]
    eyes = np.stack([(arc * np.cos(theta)).sum(axis=1), (arc * np.sin(theta)).sum(axis=1)], axis=1)
    return rows, shapes.astype(np.float32), head, eyes
