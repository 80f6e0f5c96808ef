"""The faces: one FaceBank animating every session's face together, and each session's handle on its own.

The Animator is the frame clock: one task steps the whole bank (vectorized over sessions) every 1/fps and
offers each face its newest frame. Only this module reads the clock for animation. A FaceHandle is one
session's face: its slot, the clock, and what the user asked of it (gains, controls, mood), which the
reply's prompt reads so that the words match the face asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from animation.engine import FaceBank
from animation.phonemes import Visemes
from server.events import Cue, Gesture
from server.protocol.frames import encode_deltas, quantize


class StepFrame(NamedTuple):  # a tuple: made per face per step, and a tuple is the cheapest to make
    """One face's frame of one step, worked out once per step for every face together, not per session:
    its channels as floats, the same quantized for the wire, the animation time, the step's number, and
    the wire body of its change since the step before (valid for a writer that sent that step's frame)."""

    channels: np.ndarray
    wire: np.ndarray
    t: float
    step: int
    delta: bytes


FrameSink = Callable[[StepFrame], None]


class Animator:
    def __init__(self, fps: float, seed: int | None = None) -> None:
        self.fps = fps
        self.bank = FaceBank(seed=seed)
        self.frames = 0  # steps taken: the animation's own count of time, for tests and metrics
        self._sinks: dict[int, FrameSink] = {}
        self._task: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self._last_wire = np.zeros((0, 0), np.int32)  # the step before's, by slot: what deltas are against

    def now(self) -> float:
        """Animation time in seconds (monotonic, since the animator started)."""
        return asyncio.get_running_loop().time() - self._t0

    @property
    def faces(self) -> int:
        return len(self._sinks)

    def start(self) -> None:
        self._t0 = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._run(), name="mien-animator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def open(self, sink: FrameSink) -> FaceHandle:
        """A new face (a slot in the bank) whose frames go to `sink` from the next step."""
        slot = self.bank.add(self.now())
        self._sinks[slot] = sink
        return FaceHandle(self, slot)

    def _close(self, slot: int) -> None:
        self._sinks.pop(slot, None)
        self.bank.remove(slot)

    def _previous(self, wire: np.ndarray) -> np.ndarray:
        """The step before's wire rows laid out like `wire` (slots keep their rows; the slot space may have
        grown or shrunk since)."""
        last = self._last_wire
        if last.shape == wire.shape:
            return last
        previous = np.zeros_like(wire)
        rows = min(len(last), len(wire))
        if last.size:
            previous[:rows] = last[:rows]
        return previous

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.fps
        deadline = loop.time()
        while True:
            deadline += period
            if self._sinks:
                t = self.now()
                frames = self.bank.step(t)
                wire = quantize(frames)  # fresh each step: a session may keep its row until it is sent
                deltas = encode_deltas(wire, self._previous(wire))
                self._last_wire = wire
                for slot, sink in list(self._sinks.items()):
                    sink(StepFrame(frames[slot], wire[slot], t, self.frames, deltas[slot]))
            self.frames += 1
            delay = deadline - loop.time()
            if delay < -period:  # fell behind (machine stalled): skip ahead instead of bursting
                deadline = loop.time()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))


@dataclass
class FaceRequests:
    """What the user (or the site's embed key, or the persona) asked of the face in this session."""

    gains: dict[str, float] = field(default_factory=dict)
    controls: dict[str, float] = field(default_factory=dict)
    mood: tuple[str, float] | None = None


class FaceHandle:
    """One session's face. After `release` every call does nothing: a late call from a session being torn
    down never reaches the slot, which another session may already be using."""

    def __init__(self, animator: Animator, slot: int) -> None:
        self._animator = animator
        self._bank = animator.bank
        self.slot: int | None = slot
        self.requests = FaceRequests()
        self.released_at: int | None = None  # the animator's frame count when the slot was given back

    def now(self) -> float:
        return self._animator.now()

    def cue(self, cue: Cue, at: float | None = None) -> None:
        """Show the cue from `at` (animation time; default now)."""
        if self.slot is not None:
            t = self.now() if at is None else at
            self._bank.cue(self.slot, cue.emotion, cue.intensity, t, hold=cue.hold)

    def clear(self) -> None:
        """Let every emotion decay back to the mood, now, and drop the gestures not yet begun."""
        if self.slot is not None:
            self._bank.clear(self.slot, self.now())
            self._bank.clear_gestures(self.slot, self.now())

    def gesture(self, gesture: Gesture, at: float | None = None) -> None:
        """Make the gesture from `at` (animation time; default now)."""
        if self.slot is not None:
            t = self.now() if at is None else at
            self._bank.gesture(self.slot, gesture.gesture, t, gesture.intensity)

    def hear(self, loudness: float | None) -> None:
        """The user's loudness while they speak (-1..1, relative to their own level), None when they stop."""
        if self.slot is not None:
            self._bank.hear(self.slot, loudness)

    def set_state(self, state: str) -> None:
        if self.slot is not None:
            self._bank.set_state(self.slot, state)

    def set_gain(self, emotion: str, gain: float) -> None:
        """ValueError for an unknown emotion or a gain out of range; nothing changes then."""
        if self.slot is not None:
            self._bank.set_gain(self.slot, emotion, gain)
            self.requests.gains[emotion] = gain

    def set_control(self, name: str, value: float) -> None:
        """ValueError for an unknown control or a value out of range; nothing changes then."""
        if self.slot is not None:
            self._bank.set_control(self.slot, name, value)
            self.requests.controls[name] = value

    def set_mood(self, emotion: str, intensity: float) -> None:
        if self.slot is not None:
            self._bank.set_mood(self.slot, emotion, intensity)
            self.requests.mood = (emotion, intensity)

    def visemes(self, t0: float, keys: Visemes) -> None:
        """Speak the viseme keys from animation time t0."""
        if self.slot is not None:
            self._bank.visemes(self.slot, t0, keys.times, keys.visemes, keys.weights)

    def clear_speech(self) -> None:
        """The mouth stops, and the gestures timed to words not yet spoken are dropped."""
        if self.slot is not None:
            self._bank.clear_speech(self.slot, self.now())
            self._bank.clear_gestures(self.slot, self.now())

    def release(self) -> None:
        """Give the slot back (idempotent)."""
        if self.slot is not None:
            self._animator._close(self.slot)
            self.slot = None
            self.released_at = self._animator.frames
