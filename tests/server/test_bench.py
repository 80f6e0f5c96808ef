"""The wire budget, checked over simulated time with the real engine and encoder (no clock)."""

from __future__ import annotations

from bench.server import SCRIPT, simulated_wire, ws_frame_bytes


def test_websocket_framing_sizes() -> None:
    assert ws_frame_bytes(17) == 19 and ws_frame_bytes(200) == 204 and ws_frame_bytes(70000) == 70010


def test_frames_stay_under_two_kilobytes_per_second() -> None:
    result = simulated_wire(seconds=len(SCRIPT) * 4 * 3, fps=30.0, seed=1)
    assert result["frames"] == 30 * 60
    assert result["bytes_per_second"] <= 2000, result
    # Header (17) + websocket framing (2) is the floor: an idle face must not pay much more than that.
    assert result["bytes_per_frame"] >= 19
