"""The protocol's pictures: what `hello` says about showing the avatar a picture, and what the server says
back (`image`, `vision`). The client's side is the binary `image` message (frames.py) and `user_message`'s
`image`. docs/protocol.md, "Pictures"."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from server.protocol.common import _Message


class VisionInfo(_Message):
    """In `hello`: whether this session may show the avatar pictures, and how they reach a model."""

    available: bool
    reason: str | None = Field(
        None, description="Why not, when unavailable (a client hides its attach button)."
    )
    direct: bool = Field(
        False, description="The chat model sees the picture; else `model` describes it first."
    )
    model: str | None = None
    max_bytes: int = 0
    types: list[str] = Field(default_factory=list)
    frame_kind: int = 4


class ImageReceived(_Message):
    """A picture arrived and is ready to go with a `user_message` (`image`: its id): its size as sent on."""

    type: Literal["image"] = "image"
    image_id: int
    width: int
    height: int
    bytes: int


class Vision(_Message):
    """What the describing model (`vision_model`) saw in the picture: the chat model answers from it."""

    type: Literal["vision"] = "vision"
    reply_id: int
    model: str
    description: str
