"""What client and server messages share: the base model, value types and size limits."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Limits a client learns from `hello`; larger inputs get a typed `error`.
MAX_MESSAGE_BYTES = 16_384
MAX_TEXT_CHARS = 4_000

Emotion = Annotated[str, Field(min_length=1, max_length=64, description="An emotion name from `hello`.")]
UnitFloat = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
GainFloat = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]
UserText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
