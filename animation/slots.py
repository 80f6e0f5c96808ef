"""Slot ids for the bank's faces: stable for a face's whole life, while its row moves.

The bank keeps its live faces packed in rows 0..n-1, so a step computes exactly the live faces, and its
arrays can shrink when most faces have left. Callers hold slots; `row_of[slot]` says where the face is
now. Removing a face moves the last row into the hole (one row copied, not n), so rows move and slots
never do. A new face gets the lowest free slot id, which keeps ids (and the frames laid out by them)
small under churn.
"""

from __future__ import annotations

import numpy as np


class SlotMap:
    def __init__(self, size: int) -> None:
        self.row_of = np.full(size, -1, np.intp)  # slot -> row; -1: free
        self.slot_of = np.full(size, -1, np.intp)  # row -> slot; rows >= n: -1
        self.n = 0  # live faces, in rows 0..n-1
        self._ordered = True  # slot_of[:n] is 0..n-1: frames need no scatter

    @property
    def limit(self) -> int:
        """Every live slot id is below this; step's frames have this many rows."""
        return int(self.row_of.shape[0])

    def slots(self) -> list[int]:
        return sorted(int(s) for s in self.slot_of[: self.n])

    def row(self, slot: int) -> int:
        """The row of a live slot; ValueError for anything else."""
        if isinstance(slot, bool) or not isinstance(slot, int | np.integer):
            raise ValueError(f"slot must be an int, not {type(slot).__name__}")
        if not (0 <= slot < self.limit and self.row_of[slot] >= 0):
            raise ValueError(f"slot {slot} is not an active face")
        return int(self.row_of[slot])

    def add(self) -> tuple[int, int]:
        """(slot, row) for a new face: the lowest free slot, the first free row (the caller has room)."""
        row = self.n
        assert row < self.slot_of.shape[0] <= self.limit, "the bank grows before it adds"
        slot = int(np.argmax(self.row_of < 0))  # a free one exists: limit >= rows > n
        self.row_of[slot], self.slot_of[row] = row, slot
        self.n += 1
        self._ordered = self._ordered and slot == row
        return slot, row

    def remove(self, slot: int) -> tuple[int, int]:
        """Free a live slot; returns (row, last): the caller moves row `last` into `row` (if they differ),
        as this map already has, then clears row `last`."""
        row = self.row(slot)
        last = self.n - 1
        moved = int(self.slot_of[last])
        self.slot_of[row], self.row_of[moved] = moved, row
        self.row_of[slot], self.slot_of[last] = -1, -1
        self.n = last
        self._ordered = bool(np.array_equal(self.slot_of[:last], np.arange(last)))
        return row, last

    def resize(self, rows: int) -> None:
        """Room for `rows` rows (>= n)."""
        slot_of = np.full(rows, -1, np.intp)
        slot_of[: self.n] = self.slot_of[: self.n]
        self.slot_of = slot_of
        self.fit(rows)

    def fit(self, rows: int) -> None:
        """Size the slot space to max(rows, highest live slot + 1): the frames' rows. Cheap (one int per
        slot), so it follows exactly; the per-face arrays are what resize with hysteresis."""
        top = int(self.slot_of[: self.n].max()) + 1 if self.n else 0
        need = max(rows, top)
        if need != self.limit:
            row_of = np.full(need, -1, np.intp)
            keep = min(need, self.limit)
            row_of[:keep] = self.row_of[:keep]
            self.row_of = row_of

    def scatter(self, packed: np.ndarray) -> np.ndarray:
        """Frames of the live rows [n, ...] laid out by slot [limit, ...], zeros for free slots."""
        n = self.n
        if self._ordered and n == self.limit:
            return packed
        out = np.zeros((self.limit, *packed.shape[1:]), packed.dtype)
        if self._ordered:
            out[:n] = packed
        else:
            out[self.slot_of[:n]] = packed
        return out
