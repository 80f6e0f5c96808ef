"""Per-face state stored as arrays with faces on axis 0, growable and resettable by row.

Each layer (envelopes, blinks, gaze, head, speech) keeps its state in a dataclass of such arrays, so the
bank can grow every layer the same way and a step touches all faces with whole-array numpy operations.
"""

from __future__ import annotations

from dataclasses import fields
from typing import ClassVar

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
        for f in fields(self):  # type: ignore[arg-type]
            old = getattr(self, f.name)
            new = np.full((n, *old.shape[1:]), self._fill(f.name), dtype=old.dtype)
            new[: old.shape[0]] = old
            setattr(self, f.name, new)

    def reset(self, row: int) -> None:
        """Put one row back to the fill values (a new or freed face)."""
        for f in fields(self):  # type: ignore[arg-type]
            getattr(self, f.name)[row] = self._fill(f.name)
