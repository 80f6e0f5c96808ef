"""Whose a stored conversation is: the persona it was held with and the embed key it was opened under."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Owner:
    persona: str
    key: str = ""  # the embed key's id; "" for Mien's own page and keyless clients. Resuming needs the same.
