"""What client and server messages share: the base model, value types and size limits."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from animation.controls import CONTROL_INDEX, GAIN, Control

# Limits a client learns from `hello`; larger inputs get a typed `error`.
MAX_MESSAGE_BYTES = 16_384
MAX_TEXT_CHARS = 4_000

Emotion = Annotated[str, Field(min_length=1, max_length=64, description="An emotion name from `hello`.")]
UnitFloat = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


def within(control: Control) -> object:
    """A float field with a face control's range: the engine's table is the one source of the ranges."""
    return Field(ge=control.minimum, le=control.maximum, allow_inf_nan=False)


GainFloat = Annotated[float, within(GAIN)]
ExpressivenessFloat = Annotated[float, within(CONTROL_INDEX["expressiveness"])]
UserText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
