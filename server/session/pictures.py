"""A session's pictures: binary `image` messages, made ready for a model on arrival (in a worker thread) and
kept until a `user_message` takes one (`image`: its id). Only a few wait at once, and only for this
session; none is stored or logged, and one goes only to the model configured to see it."""

from __future__ import annotations

import asyncio

from server.protocol import ImageReceived, ProtocolError
from server.protocol.frames import decode_image
from server.seeing import ImageError, Picture, VisionRoute, prepare

WAITING = 4  # pictures received and not yet sent with a message; the oldest goes first


class SessionPictures:
    def __init__(self, route: VisionRoute | str, max_bytes: int) -> None:
        """`route`: how pictures reach a model, or why they cannot (hello said so)."""
        self.route, self.max_bytes = route, max_bytes
        self._waiting: dict[int, Picture] = {}

    async def receive(self, data: bytes) -> ImageReceived:
        """A binary `image` message -> the answer to send (ProtocolError for anything wrong with it)."""
        self._check()
        try:
            image_id, body = decode_image(data)
        except ValueError as e:
            raise ProtocolError("bad_image", str(e)) from None
        try:
            picture = await asyncio.to_thread(prepare, body, self.max_bytes)
        except ImageError as e:
            raise ProtocolError("bad_image", str(e)) from None
        self._waiting.pop(image_id, None)
        self._waiting[image_id] = picture
        while len(self._waiting) > WAITING:
            del self._waiting[next(iter(self._waiting))]
        return ImageReceived(
            image_id=image_id, width=picture.width, height=picture.height, bytes=len(picture.jpeg)
        )

    def take(self, image_id: int) -> Picture:
        """The picture a message shows (gone from here once taken)."""
        self._check()
        picture = self._waiting.pop(image_id, None)
        if picture is None:
            raise ProtocolError(
                "unknown_image", f"no picture {image_id} is waiting: send its `image` message first"
            )
        return picture

    def _check(self) -> None:
        if isinstance(self.route, str):
            raise ProtocolError("vision_unavailable", f"pictures can't be shown here: {self.route}")
