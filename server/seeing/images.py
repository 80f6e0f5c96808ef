"""A picture the user shows the avatar, as a model gets it. Its kind is read from its bytes, not a name
(JPEG, PNG or WebP only), its size and pixel count are bounded (a small file can still decode to a
gigapixel "bomb"), and it is decoded, turned upright (EXIF orientation), downscaled so its longer side is
at most MAX_SIDE, and re-encoded as a JPEG: every model gets the same small kind of file, with no metadata
(a phone photo's EXIF can carry where it was taken). Blocking: call `prepare` from a worker thread."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

KINDS = ("image/jpeg", "image/png", "image/webp")
MAX_SIDE = 1024  # what vision models resize to anyway (OpenAI's low-detail tile is 512, high 2048x768)
MAX_PIXELS = 40_000_000  # decoded pixels at most (a 8000x5000 photo)
JPEG_QUALITY = 85


class ImageError(ValueError):
    """The bytes are not a picture this server takes; the message says why, in words for the user."""


@dataclass(frozen=True)
class Picture:
    jpeg: bytes
    width: int
    height: int
    kind: str  # what the user sent

    def data_url(self) -> str:
        """The picture inline, as litellm's (OpenAI's) image message format takes it."""
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii")


def sniff(data: bytes) -> str | None:
    """The picture's kind from its first bytes (the file's own signature), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def prepare(data: bytes, max_bytes: int, max_side: int = MAX_SIDE) -> Picture:
    """The picture as a model will see it (ImageError when it is none this server takes)."""
    from PIL import Image, ImageOps

    if len(data) > max_bytes:
        raise ImageError(f"the picture is {len(data) / 1e6:.1f} MB; at most {max_bytes / 1e6:.1f} MB")
    kind = sniff(data)
    if kind is None:
        raise ImageError("not a picture this server takes: send a JPEG, PNG or WebP")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"the picture is {image.width}x{image.height}: too many pixels")
            image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale straight away
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except ImageError:
        raise
    except Exception as e:  # truncated, corrupt, or lying about its kind
        raise ImageError(f"the picture could not be read ({type(e).__name__})") from None
    upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)  # no EXIF: nothing but pixels
    return Picture(out.getvalue(), upright.width, upright.height, kind)
