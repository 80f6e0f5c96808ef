"""Mien's binary websocket messages, laid out and coded: blendshape frames (kind 1) and spoken audio
(kind 2). Part of the wire protocol documented in docs/protocol.md; the JSON messages are in
this package (server/protocol/)."""

from __future__ import annotations

import struct

import numpy as np

from animation.arkit import HEAD_RANGE, N_BLENDSHAPES, N_CHANNELS

#
# One websocket binary message per frame, little-endian:
#   u8  kind = 1
#   u8  flags (0; reserved)
#   u32 seq          frame sequence number in this session (gaps = frames dropped for a slow client)
#   u32 t_ms         animation time of the frame, ms since the session started
#   u8[7] mask       bit i (byte i//8, bit i%8) set = channel i is present in this frame
#   values           for each present channel in channel order: u8 for the 52 blendshapes
#                    (weight*255), i16 for the head channels (radians * 32767 / HEAD_RANGE)
# Channels absent from a frame keep their previous value (all start at 0): the sender encodes each frame
# against the last one it actually sent, so dropped frames never corrupt the client's state.

FRAME_KIND = 1
_HEADER = struct.Struct("<BBII7s")
_HEADER_START = struct.Struct("<BBII")  # the header without its mask (which leads a body)
FRAME_HEADER_BYTES = _HEADER.size
_MASK_BYTES = 7
HEAD_SCALE = 32767 / HEAD_RANGE
assert (_MASK_BYTES - 1) * 8 < N_CHANNELS <= _MASK_BYTES * 8  # packbits gives exactly the mask's bytes


def quantize(frames: np.ndarray) -> np.ndarray:
    """Float channels -> the integers sent on the wire (int32 for easy comparison): one frame [N_CHANNELS]
    or every face's at once [faces, N_CHANNELS] (the animator does that once per step, not per session)."""
    q = np.empty(frames.shape, dtype=np.int32)
    blend, head = frames[..., :N_BLENDSHAPES], frames[..., N_BLENDSHAPES:]
    np.rint(np.clip(blend, 0.0, 1.0) * 255, out=q[..., :N_BLENDSHAPES], casting="unsafe")
    np.rint(np.clip(head, -HEAD_RANGE, HEAD_RANGE) * HEAD_SCALE, out=q[..., N_BLENDSHAPES:], casting="unsafe")
    return q


def encode_deltas(q: np.ndarray, previous: np.ndarray) -> list[bytes]:
    """Every face's frame body (mask, then values) at once: quantized channels `q` [faces, N_CHANNELS]
    against `previous` [faces, N_CHANNELS]. The animator does this once per step for every face, so a
    session's writer only adds its header (one numpy pass for all instead of several per frame)."""
    changed = q != previous
    mask = np.packbits(changed, axis=1, bitorder="little")  # [faces, 7]; the last byte's pad bits are 0
    blend = q[:, :N_BLENDSHAPES].astype(np.uint8)
    head = q[:, N_BLENDSHAPES:].astype("<i2").view(np.uint8)  # each head value's two bytes, little-endian
    rows = np.concatenate([mask, blend, head], axis=1)
    keep = np.concatenate(
        [
            np.ones_like(mask, bool),
            changed[:, :N_BLENDSHAPES],
            np.repeat(changed[:, N_BLENDSHAPES:], 2, axis=1),
        ],
        axis=1,
    )
    flat = rows[keep].tobytes()  # row-major: each face's kept bytes in order, one face after another
    ends = np.cumsum(keep.sum(axis=1)).tolist()
    return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def frame_header(seq: int, t_ms: int) -> bytes:
    """What goes before a body from `encode_deltas`."""
    return _HEADER_START.pack(FRAME_KIND, 0, seq & 0xFFFFFFFF, t_ms & 0xFFFFFFFF)


def encode_frame(seq: int, t_ms: int, q: np.ndarray, previous: np.ndarray) -> bytes:
    """Encode one frame's quantized channels `q` against `previous` (what the client last received)."""
    return frame_header(seq, t_ms) + encode_deltas(q[None], previous[None])[0]


AUDIO_KIND = 2
_AUDIO_HEADER = struct.Struct("<BBIH")
AUDIO_HEADER_BYTES = _AUDIO_HEADER.size


def encode_audio(reply_id: int, sentence: int, payload: bytes) -> bytes:
    """A binary `audio` message: u8 kind=2, u8 flags, u32 reply_id, u16 sentence, then an Ogg/Opus file."""
    return _AUDIO_HEADER.pack(AUDIO_KIND, 0, reply_id & 0xFFFFFFFF, sentence & 0xFFFF) + payload


def decode_audio(data: bytes) -> tuple[int, int, bytes]:
    kind, _flags, reply_id, sentence = _AUDIO_HEADER.unpack_from(data)
    if kind != AUDIO_KIND:
        raise ValueError(f"not audio (kind {kind})")
    return reply_id, sentence, data[AUDIO_HEADER_BYTES:]


MIC_KIND = 3
_MIC_HEADER = struct.Struct("<BBI")
MIC_HEADER_BYTES = _MIC_HEADER.size
MIC_MAX_SAMPLES = 8_192  # 512 ms at 16 kHz: browsers send 20-100 ms


def pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] as the int16 samples a mic message carries (clipped, rounded)."""
    return np.clip(np.round(np.asarray(audio) * 32767), -32768, 32767).astype(np.int16)


def encode_mic(seq: int, pcm: np.ndarray) -> bytes:
    """A client's binary `mic` message: u8 kind=3, u8 flags, u32 seq, then 16 kHz mono int16 LE samples."""
    return _MIC_HEADER.pack(MIC_KIND, 0, seq & 0xFFFFFFFF) + np.asarray(pcm, "<i2").tobytes()


def decode_mic(data: bytes) -> tuple[int, np.ndarray]:
    """(seq, float32 samples in [-1, 1)); ValueError saying what is wrong with a malformed message."""
    if len(data) < MIC_HEADER_BYTES:
        raise ValueError(f"a mic message has a {MIC_HEADER_BYTES}-byte header; got {len(data)} bytes")
    kind, flags, seq = _MIC_HEADER.unpack_from(data)
    if kind != MIC_KIND:
        raise ValueError(
            f"a client's binary messages are mic audio (kind {MIC_KIND}) or pictures (4), not kind {kind}"
        )
    body = data[MIC_HEADER_BYTES:]
    if flags or len(body) % 2:
        raise ValueError("mic audio is 16-bit samples with flags 0")
    if len(body) // 2 > MIC_MAX_SAMPLES:
        raise ValueError(f"a mic message holds at most {MIC_MAX_SAMPLES} samples")
    return seq, np.frombuffer(body, "<i2").astype(np.float32) / 32768.0


IMAGE_KIND = 4
_IMAGE_HEADER = struct.Struct("<BBI")
IMAGE_HEADER_BYTES = _IMAGE_HEADER.size


def encode_image(image_id: int, data: bytes) -> bytes:
    """A client's binary `image` message: u8 kind=4, u8 flags, u32 image_id, then the picture's file."""
    return _IMAGE_HEADER.pack(IMAGE_KIND, 0, image_id & 0xFFFFFFFF) + data


def decode_image(data: bytes) -> tuple[int, bytes]:
    """(image_id, the file's bytes); ValueError saying what is wrong with a malformed message."""
    if len(data) <= IMAGE_HEADER_BYTES:
        raise ValueError(f"an image message is a {IMAGE_HEADER_BYTES}-byte header and then a picture")
    kind, flags, image_id = _IMAGE_HEADER.unpack_from(data)
    if kind != IMAGE_KIND or flags:
        raise ValueError(f"an image message has kind {IMAGE_KIND} and flags 0")
    return image_id, data[IMAGE_HEADER_BYTES:]


def decode_frame(data: bytes, previous: np.ndarray) -> tuple[int, int, np.ndarray]:
    """Decode one frame onto `previous` quantized values; returns (seq, t_ms, quantized channels)."""
    kind, _flags, seq, t_ms, mask_bytes = _HEADER.unpack_from(data)
    if kind != FRAME_KIND:
        raise ValueError(f"not a frame (kind {kind})")
    present = np.unpackbits(np.frombuffer(mask_bytes, np.uint8), bitorder="little")[:N_CHANNELS].astype(bool)
    q = previous.copy()
    n_blend = int(present[:N_BLENDSHAPES].sum())
    n_head = int(present[N_BLENDSHAPES:].sum())
    body = data[FRAME_HEADER_BYTES:]
    if len(body) != n_blend + 2 * n_head:
        raise ValueError("frame length does not match its mask")
    q[:N_BLENDSHAPES][present[:N_BLENDSHAPES]] = np.frombuffer(body[:n_blend], np.uint8)
    q[N_BLENDSHAPES:][present[N_BLENDSHAPES:]] = np.frombuffer(body[n_blend:], "<i2")
    return seq, t_ms, q


def dequantize(q: np.ndarray) -> np.ndarray:
    out = np.empty(N_CHANNELS, dtype=np.float32)
    out[:N_BLENDSHAPES] = q[:N_BLENDSHAPES] / 255.0
    out[N_BLENDSHAPES:] = q[N_BLENDSHAPES:] / HEAD_SCALE
    return out
