"""Seeing: pictures the user shows the avatar, made safe and small for a model (images.py), and which model
sees them, directly or through another that describes them (vision.py)."""

from server.seeing.images import ImageError, Picture, prepare
from server.seeing.vision import DESCRIBED_AS, VisionRoute, describe, route, text_of, with_picture

__all__ = [
    "DESCRIBED_AS",
    "ImageError",
    "Picture",
    "VisionRoute",
    "describe",
    "prepare",
    "route",
    "text_of",
    "with_picture",
]
