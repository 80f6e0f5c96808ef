"""The wire contract: committed schema is current, frames round-trip, messages validate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from animation.arkit import HEAD_RANGE, N_BLENDSHAPES, N_CHANNELS
from server.protocol import SCHEMA_PATH, ProtocolError, parse_client_message, schema_text
from server.protocol.frames import (
    FRAME_HEADER_BYTES,
    decode_audio,
    decode_frame,
    decode_mic,
    dequantize,
    encode_audio,
    encode_deltas,
    encode_frame,
    encode_mic,
    frame_header,
    quantize,
)


def test_committed_schema_matches_code() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), (
        "run `make schema` and commit server/protocol.schema.json"
    )


def test_frame_header_layout() -> None:
    q = np.zeros(N_CHANNELS, dtype=np.int32)
    data = encode_frame(7, 1234, q, q)
    assert len(data) == FRAME_HEADER_BYTES == 17
    assert (
        data[0] == 1
        and int.from_bytes(data[2:6], "little") == 7
        and int.from_bytes(data[6:10], "little") == 1234
    )


def test_only_changed_channels_are_sent() -> None:
    prev = np.zeros(N_CHANNELS, dtype=np.int32)
    frame = np.zeros(N_CHANNELS, dtype=np.float32)
    frame[3] = 0.5
    frame[N_BLENDSHAPES] = 0.1  # headYaw
    data = encode_frame(1, 0, quantize(frame), prev)
    assert len(data) == FRAME_HEADER_BYTES + 1 + 2


channels = arrays(np.float32, N_CHANNELS, elements=st.floats(-1.0, 1.0, width=32))


@settings(max_examples=200, deadline=None)
@given(channels, channels)
def test_frames_round_trip_within_quantization(a: np.ndarray, b: np.ndarray) -> None:
    state = np.zeros(N_CHANNELS, dtype=np.int32)
    sent = np.zeros(N_CHANNELS, dtype=np.int32)
    for seq, frame in enumerate((a, b)):
        q = quantize(frame)
        seq_out, _, state = decode_frame(encode_frame(seq, 0, q, sent), state)
        sent = q
        assert seq_out == seq
    out = dequantize(state)
    expected = np.concatenate(
        [np.clip(b[:N_BLENDSHAPES], 0, 1), np.clip(b[N_BLENDSHAPES:], -HEAD_RANGE, HEAD_RANGE)]
    )
    assert np.all(np.abs(out[:N_BLENDSHAPES] - expected[:N_BLENDSHAPES]) <= 0.5 / 255 + 1e-6)
    assert np.all(np.abs(out[N_BLENDSHAPES:] - expected[N_BLENDSHAPES:]) <= HEAD_RANGE / 32767 + 1e-6)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "invalid_message"),
        ('{"text": "hi"}', "invalid_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "user_message", "text": 5}', "invalid_message"),
        ('{"type": "user_message", "text": ""}', "invalid_message"),
        ('{"type": "user_message", "text": "hi", "extra": 1}', "invalid_message"),
        ('{"type": "set_emotion", "emotion": "joy", "intensity": NaN}', "out_of_range"),
        ('{"type": "set_emotion", "emotion": "joy", "intensity": Infinity}', "out_of_range"),
        ('{"type": "set_emotion", "emotion": "joy", "intensity": -0.1}', "out_of_range"),
        ('{"type": "set_gain", "emotion": "joy", "gain": 2.5}', "out_of_range"),
        ('{"type": "set_expressiveness", "value": -1}', "out_of_range"),
        ('{"type": "set_emotion", "emotion": "joy", "intensity": null}', "invalid_message"),
        ('{"type": "user_message", "text": "' + "x" * 5000 + '"}', "too_large"),
        ('{"type": "user_message", "text": "' + "x" * 20000 + '"}', "too_large"),
        ("[" * 8000 + "]" * 8000, "bad_json"),
        ('{"type": "x", "a": ' + "[" * 5000 + "]" * 5000 + "}", "bad_json"),
        ('{"type": "set_emotion", "emotion": "joy", "intensity": true}', "invalid_message"),
        ('{"type": "set_gain", "emotion": "joy", "gain": "1"}', "invalid_message"),
        ('{"type": "visibility", "hidden": 1}', "invalid_message"),
        ('{"type": "set_voice", "enabled": "yes"}', "invalid_message"),
    ],
)
def test_bad_client_messages_get_typed_codes(raw: str, code: str) -> None:
    with pytest.raises(ProtocolError) as e:
        parse_client_message(raw)
    assert e.value.code == code


def test_valid_client_message_parses() -> None:
    msg = parse_client_message('{"type": "set_gain", "emotion": "joy", "gain": 0}')
    assert msg.model_dump() == {"type": "set_gain", "emotion": "joy", "gain": 0.0}


def test_the_documented_frame_example_decodes() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    line = next(ln for ln in doc.splitlines() if ln.startswith("Example: `01 00 |"))
    hexes = line.split("`")[1].replace("|", " ").split()
    seq, t_ms, q = decode_frame(bytes(int(h, 16) for h in hexes), np.zeros(N_CHANNELS, dtype=np.int32))
    assert (seq, t_ms, int(q[0])) == (42, 1000, 128) and not q[1:].any()


def test_audio_messages_round_trip() -> None:
    data = encode_audio(7, 3, b"OggS-payload")
    assert data[0] == 2 and decode_audio(data) == (7, 3, b"OggS-payload")
    with pytest.raises(ValueError):
        decode_audio(encode_frame(1, 0, np.zeros(N_CHANNELS, np.int32), np.zeros(N_CHANNELS, np.int32)))


faces_and_kept = st.integers(1, 6).flatmap(
    lambda faces: st.tuples(
        arrays(np.int32, (faces, N_CHANNELS), elements=st.integers(0, 255)),
        arrays(np.bool_, (faces, N_CHANNELS)),  # True: the channel did not change since the step before
    )
)


@settings(max_examples=200, deadline=None)
@given(faces_and_kept, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_every_faces_delta_at_once_decodes_to_its_frame(
    drawn: tuple[np.ndarray, np.ndarray], seq: int, t_ms: int
) -> None:
    """The animator's one pass for all faces gives each face the same bytes as encoding it alone."""
    q, kept = drawn
    q[:, N_BLENDSHAPES:] = (q[:, N_BLENDSHAPES:] - 128) * 200  # head channels are signed 16-bit
    previous = np.where(kept, q, q + 1)
    bodies = encode_deltas(q, previous)
    assert len(bodies) == len(q)
    for face, body in enumerate(bodies):
        data = frame_header(seq, t_ms) + body
        assert data == encode_frame(seq, t_ms, q[face], previous[face])
        assert decode_frame(data, previous[face])[:2] == (seq, t_ms)
        assert np.array_equal(decode_frame(data, previous[face])[2], q[face])


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), arrays(np.int16, st.integers(0, 8192)))
def test_mic_audio_round_trips(seq: int, pcm: np.ndarray) -> None:
    got_seq, samples = decode_mic(encode_mic(seq, pcm))
    assert got_seq == seq and np.array_equal(np.round(samples * 32768).astype(np.int16), pcm)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x03\x00\x00", "header"),
        (b"\x02\x00\x00\x00\x00\x00", "kind 2"),
        (b"\x03\x01\x00\x00\x00\x00", "flags 0"),
        (b"\x03\x00\x00\x00\x00\x00\x01", "16-bit"),
        (b"\x03\x00\x00\x00\x00\x00" + bytes(2 * 8193), "at most 8192"),
    ],
)
def test_malformed_mic_audio_says_what_is_wrong(data: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        decode_mic(data)
