"""Slots under churn (issue 14, finding 15): the bank's size and a step's work follow the live faces, slot
ids stay stable, adding or removing a face leaves every other face's state as it was (rows move, values
do not), and a face's frames do not depend on the faces that came and went around it."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from animation import blinks, dynamics, gaze, head, speech
from animation.arkit import INDEX, N_CHANNELS
from animation.controls import CONTROLS
from animation.emotions import EMOTIONS
from animation.engine import FaceBank
from animation.rows import RowArrays
from animation.states import STATES
from animation.visemes import VISEMES
from tests.animation.helpers import EXPRESSION

LAYERS = ((dynamics, "advance"), (speech, "step_speech"), (gaze, "step_gaze"), (blinks, "step_blinks"),
          (head, "step_head"))  # fmt: skip


def per_face_rows(bank: FaceBank) -> dict[str, int]:
    """Rows of every per-face array the bank holds (its own and its layers'), by name."""
    rows: dict[str, int] = {}
    for name, value in vars(bank).items():
        if isinstance(value, np.ndarray) and value.ndim and name != "_contrast_rows":
            rows[name] = value.shape[0]
        elif isinstance(value, RowArrays):
            rows[name] = len(value)
    return rows


def step_and_count(bank: FaceBank, t: float, monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, dict]:
    """bank.step(t), and how many rows each layer of the step was handed."""
    seen: dict[str, int] = {}

    def spy(name: str, real: Callable) -> Callable:
        def counted(layer, *args, **kw):  # type: ignore[no-untyped-def]
            seen[name] = len(layer)
            return real(layer, *args, **kw)

        return counted

    with monkeypatch.context() as m:
        for module, name in LAYERS:
            m.setattr(module, name, spy(name, getattr(module, name)))
        frames = bank.step(t)
    return frames, seen


def test_after_1500_faces_came_and_went_the_bank_is_small_again(monkeypatch: pytest.MonkeyPatch) -> None:
    bank = FaceBank(seed=0)
    slots = [bank.add(0.0) for _ in range(1500)]
    assert bank.capacity >= 1500
    bank.step(0.5)
    keep = slots[-1]  # the highest slot id: it must keep working while everything shrinks around it
    bank.cue(keep, "joy", 1.0, 0.5, hold=math.inf)
    for s in slots[:-1]:
        bank.remove(s)
    assert bank.active_slots() == [keep]
    assert bank.capacity <= 8
    assert max(per_face_rows(bank).values()) <= 8, per_face_rows(bank)
    frames, seen = step_and_count(bank, 1.5, monkeypatch)
    assert seen == {name: 1 for _, name in LAYERS}  # the step computes the one live face, nothing else
    assert frames.shape[1] == N_CHANNELS and frames[keep, INDEX["mouthSmileLeft"]] > 0.5
    assert not np.delete(frames, keep, axis=0).any()  # every other slot reads as zeros
    bank.remove(keep)
    assert bank.step(2.0).shape[0] <= 8 and max(per_face_rows(bank).values()) <= 8
    assert [bank.add(2.0) for _ in range(3)] == [0, 1, 2]  # ids are reused from the lowest


def test_churn_with_one_long_session_keeps_its_slot_and_its_face() -> None:
    bank, alone = FaceBank(seed=0), FaceBank(seed=0)
    first = [bank.add(0.0) for _ in range(40)]
    long_lived, solo = first[17], alone.add(0.0)
    for b, s in ((bank, long_lived), (alone, solo)):
        b.cue(s, "sadness", 0.8, 0.1, hold=math.inf)
        b.set_gain(s, "sadness", 1.5)
        b.set_control(s, "contrast", 1.6)
        b.visemes(s, 0.2, [0.0, 0.1, 0.25, 0.4], ["PP", "aa", "ou", "sil"])
    t = 0.0
    for k in range(60):  # sessions come and go around it, a few at a time
        t = (k + 1) / 30
        if k % 3 == 0:
            for s in [s for s in bank.active_slots() if s != long_lived][:5]:
                bank.remove(s)
        else:
            bank.add(t)
        mine, ref = bank.step(t)[long_lived], alone.step(t)[solo]
        np.testing.assert_allclose(mine[EXPRESSION], ref[EXPRESSION], atol=1e-6)
    assert bank.emotion_levels(long_lived) == alone.emotion_levels(solo)
    assert bank.control(long_lived, "contrast") == pytest.approx(1.6)


def test_capacity_doubles_when_full_and_halves_only_when_a_quarter_is_used() -> None:
    bank = FaceBank(capacity=8, seed=0)
    slots = [bank.add(0.0) for _ in range(64)]
    assert bank.capacity == 64
    sizes = set()
    for _ in range(20):  # back and forth across the boundary: one resize, not one per call
        s = bank.add(0.0)
        sizes.add(bank.capacity)
        bank.remove(s)
        sizes.add(bank.capacity)
    assert sizes == {128}
    for s in slots[1:]:
        bank.remove(s)
        n = len(bank.active_slots())
        assert n <= bank.capacity and (bank.capacity == 8 or n > bank.capacity // 4)
    assert bank.capacity == 8 and bank.active_slots() == [slots[0]]


def test_removing_a_face_moves_the_last_row_whole_and_narrows_the_speech_keys() -> None:
    bank = FaceBank(capacity=4, seed=3)
    a, b, c = (bank.add(0.0) for _ in range(3))
    long = ["aa", "PP"] * 120 + ["sil"]  # one long reply: every face's key arrays widen for it
    bank.visemes(a, 0.0, np.arange(len(long)) * 0.05, long)
    for s, x, n in ((b, 0.3, 35), (c, 1.7, 3)):
        for control in ("contrast", "upper_face", "lower_face", "expressiveness"):
            bank.set_control(s, control, x)
        bank.set_control(s, "max_emotions", 2)
        bank.set_gain(s, "joy", x)
        bank.set_mood(s, "sadness", x / 2)
        bank.set_state(s, "thinking")
        bank.cue(s, "anger", 0.6, 0.0)
        names = [VISEMES[k % len(VISEMES)] for k in range(n)] + ["sil"]
        bank.visemes(s, 0.1, np.arange(len(names)) * 0.06, names)
    bank.step(0.5)
    wide = bank._speech.times.shape[1]
    before = {s: face_state(bank, s) for s in (b, c)}
    bank.remove(a)  # c, in the last row, moves into a's
    assert_untouched(before, bank)
    assert bank._speech.times.shape[1] <= wide // 2
    bank.remove(b)
    assert_untouched({c: before[c]}, bank)
    assert bank.active_slots() == [c] and bank.control(c, "contrast") == pytest.approx(1.7)


class FlatRng:
    """A generator whose draws do not depend on call order: every draw is its distribution's middle."""

    @staticmethod
    def _fill(value: object, size: object) -> object:
        return value if size is None else np.broadcast_to(np.asarray(value, float), size).copy()

    def random(self, size: object = None) -> object:
        return self._fill(0.5, size)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: object = None) -> object:
        return self._fill((np.asarray(low) + high) / 2.0, size)

    def normal(self, loc: object = 0.0, scale: object = 1.0, size: object = None) -> object:
        return self._fill(loc, size)

    def standard_gamma(self, shape: object, size: object = None) -> object:
        return self._fill(shape, size)

    def choice(self, a: int, size: int, replace: bool = True) -> np.ndarray:
        return np.arange(size)

    def integers(self, low: int, high: int | None = None, size: object = None) -> object:
        return self._fill(0 if high is None else low, size)


FACE = st.integers(0, 30)  # which live face an op is for (modulo how many there are)
HOLDS = st.sampled_from([None, 0.2, 2.0, math.inf])
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add")),
        st.tuples(st.just("add")),
        st.tuples(st.just("remove"), FACE),
        st.tuples(st.just("cue"), FACE, st.sampled_from(EMOTIONS), st.floats(0.0, 1.0), HOLDS),
        st.tuples(st.just("gain"), FACE, st.sampled_from(EMOTIONS), st.floats(0.0, 2.0)),
        st.tuples(st.just("control"), FACE, st.sampled_from(CONTROLS), st.floats(0.0, 1.0)),
        st.tuples(st.just("mood"), FACE, st.sampled_from(EMOTIONS), st.floats(0.0, 1.0)),
        st.tuples(st.just("state"), FACE, st.sampled_from(STATES)),
        st.tuples(st.just("speak"), FACE, st.lists(st.sampled_from(VISEMES), min_size=1, max_size=6)),
        st.tuples(st.just("wait"), st.integers(1, 20)),
    ),
    min_size=1,
    max_size=40,
)  # fmt: skip


def apply(bank: FaceBank, slot: int, op: tuple, t: float) -> None:
    match op:
        case ("cue", _, emotion, x, hold):
            bank.cue(slot, emotion, x, t, hold=hold)
        case ("gain", _, emotion, g):
            bank.set_gain(slot, emotion, g)
        case ("control", _, control, u):
            value = control.minimum + u * (control.maximum - control.minimum)
            bank.set_control(slot, control.name, round(value) if control.step == 1 else value)
        case ("mood", _, emotion, x):
            bank.set_mood(slot, emotion, x)
        case ("state", _, state):
            bank.set_state(slot, state)
        case ("speak", _, names):
            bank.visemes(slot, t, np.arange(len(names) + 1) * 0.08, [*names, "sil"])


def face_state(bank: FaceBank, slot: int) -> dict[str, np.ndarray]:
    """Everything the bank holds for one face: its row of every per-face array, the layers' included."""
    row, out = bank._row(slot), {}
    for name, value in vars(bank).items():
        if isinstance(value, np.ndarray) and value.ndim and name != "_contrast_rows":
            out[name] = value[row].copy()
        elif isinstance(value, RowArrays):
            out.update(
                {f"{name}.{k}": v[row].copy() for k, v in vars(value).items() if isinstance(v, np.ndarray)}
            )
    return out


KEYS = ("_speech.times", "_speech.vis", "_speech.weight")


def assert_untouched(before: dict[int, dict], bank: FaceBank) -> None:
    """Faces other than the one added or removed kept every value (of the speech keys, those in use:
    the key arrays may narrow past them)."""
    for slot, state in before.items():
        now = face_state(bank, slot)
        assert now.keys() == state.keys()
        used = int(state["_speech.length"]) + speech.PAD
        for name, was in state.items():
            got = now[name]
            if name in KEYS:
                was, got = was[:used], got[:used]
            assert np.array_equal(was, got), (slot, name, was, got)


def play(bank: FaceBank, script: list[tuple[int | None, tuple]], skip: set[int]) -> dict[int, list]:
    """Run a resolved script (face id, op), leaving out the faces in `skip`; each face's frames by step.
    Checks, at every add and remove, that no other face's state changed (its row may have moved)."""
    slots: dict[int, int] = {}
    shown: dict[int, list] = {}
    t = 0.0
    for face, op in script:
        if face in skip:
            continue
        if op[0] in ("add", "remove"):
            before = {s: face_state(bank, s) for f, s in slots.items() if f != face}
            if op[0] == "add":
                slots[face] = bank.add(t)
            else:
                bank.remove(slots.pop(face))
            assert_untouched(before, bank)
        elif op[0] == "wait":
            for _ in range(op[1]):
                t += 1 / 30
                frames = bank.step(t)
                for f, s in slots.items():
                    shown.setdefault(f, []).append(frames[s].copy())
        else:
            apply(bank, slots[face], op, t)  # type: ignore[index]
    for f, s in slots.items():
        shown[f].append((bank.emotion_levels(s), bank.state(s), bank.mood(s)))
    return shown


def resolve(program: list[tuple]) -> tuple[list[tuple[int | None, tuple]], set[int]]:
    """Give each op the id of the face it is for (faces numbered by their add); and the removed faces."""
    live: list[int] = []
    removed: set[int] = set()
    script: list[tuple[int | None, tuple]] = []
    added = 0
    for op in program:
        if op[0] == "add":
            live.append(added)
            script.append((added, op))
            added += 1
        elif op[0] == "wait":
            script.append((None, op))
        elif live:
            face = live[op[1] % len(live)]
            script.append((face, op))
            if op[0] == "remove":
                live.remove(face)
                removed.add(face)
    return [*script, (None, ("wait", 3))], removed


@pytest.mark.parametrize("flat", [False, True], ids=["seeded-rng", "order-free-rng"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(faces=st.integers(0, 12), program=ops, seed=st.integers(0, 2**32 - 1))
def test_survivors_move_as_if_the_removed_faces_never_existed(
    flat: bool, faces: int, program: list, seed: int
) -> None:
    """With the seeded generator every face draws from one stream, so faces that came and went shift the
    survivors' blinks, glances and sway: their expression and mouth (every channel but idle life) still
    match exactly, up to float32 rounding. With draws that do not depend on order, every channel does."""
    script, removed = resolve([("add",)] * faces + program)

    def bank() -> FaceBank:
        return FaceBank(capacity=2, rng=FlatRng()) if flat else FaceBank(capacity=2, seed=seed)  # type: ignore[arg-type]

    churned, clean = play(bank(), script, set()), play(bank(), script, removed)
    channels = slice(None) if flat else EXPRESSION
    assert set(clean) == set(churned) - removed
    for face, states in clean.items():
        mine = churned[face]
        assert mine[-1] == states[-1]  # envelopes bit for bit, state and mood
        got, want = np.array(mine[:-1]), np.array(states[:-1])
        np.testing.assert_allclose(got[:, channels], want[:, channels], atol=1e-6, rtol=0)
