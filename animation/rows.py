"""Per-face state stored as arrays with faces on axis 0, resizable, resettable and movable by row.

Each layer (envelopes, blinks, gaze, head, speech) keeps its state in a dataclass of such arrays, so the
bank can resize and pack every layer the same way, and a step works on a view of the live rows with
whole-array numpy operations.
"""

from __future__ import annotations

from dataclasses import fields
from typing import ClassVar, Self

import numpy as np


class RowArrays:
    """Mixin for dataclasses whose fields are all ndarrays of the same length on axis 0."""

    # Value a fresh row gets, per field name; fields not listed start at 0. An instance may override
    # it with `fills` (e.g. when the fill depends on parameters chosen at construction).
    FILL: ClassVar[dict[str, float]] = {}

    def _fill(self, name: str) -> float:
        own: dict[str, float] = getattr(self, "fills", {})
        return own.get(name, self.FILL.get(name, 0.0))

    def __len__(self) -> int:
        return int(getattr(self, fields(self)[0].name).shape[0])  # type: ignore[arg-type]

    def grow(self, n: int) -> None:
        """Extend every field to n rows (n >= len(self)); new rows hold the fill values."""
        self.resize(n)

    def resize(self, n: int) -> None:
        """Make every field n rows long: the first min(n, len) rows are kept, new rows hold the fills."""
        for f in fields(self):  # type: ignore[arg-type]
            old = getattr(self, f.name)
            new = np.full((n, *old.shape[1:]), self._fill(f.name), dtype=old.dtype)
            new[: min(n, old.shape[0])] = old[:n]
            setattr(self, f.name, new)

    def reset(self, row: int) -> None:
        """Put one row back to the fill values (a new or freed face)."""
        for f in fields(self):  # type: ignore[arg-type]
            getattr(self, f.name)[row] = self._fill(f.name)

    def move(self, src: int, dst: int) -> None:
        """Copy row src over row dst (the bank packs its live faces at the front)."""
        for f in fields(self):  # type: ignore[arg-type]
            arr = getattr(self, f.name)
            arr[dst] = arr[src]

    def view(self, n: int) -> Self:
        """The first n rows, sharing memory: in-place writes reach this object, rebinding a field does not."""
        out = object.__new__(type(self))
        out.__dict__ = {k: v[:n] if isinstance(v, np.ndarray) else v for k, v in self.__dict__.items()}
        return out
