"""Frame tracks (animation/track.py): the JSON format `mien serve --record` writes and `mien render --track`
reads."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from animation.arkit import CHANNELS, INDEX
from animation.track import Track, TrackWriter, from_json, load_track, save_track


def frames(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.random((n, len(CHANNELS))).astype(np.float32)
    out[:, -3:] = rng.uniform(-0.6, 0.6, (n, 3))
    return out


def test_save_and_load_round_trip_in_the_documented_format(tmp_path: Path) -> None:
    times = np.arange(5) / 30.0
    weights = frames(5)
    path = save_track(tmp_path / "sub" / "t.json", times, weights, fps=30.0)
    data = json.loads(path.read_text())
    assert (data["format"], data["version"], data["fps"]) == ("mien-track", 1, 30.0)
    assert data["channels"] == list(CHANNELS) and len(data["channels"]) == 55
    assert len(data["times"]) == 5 and all(len(row) == 55 for row in data["weights"])
    track = load_track(path)
    assert track.channels == CHANNELS and len(track) == 5
    np.testing.assert_allclose(track.times, times, atol=1e-4)
    np.testing.assert_allclose(track.weights, weights, atol=1e-4)  # rounded to 4 decimals on disk
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, nothing left behind


def test_writer_makes_times_relative_and_refuses_bad_frames(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    with TrackWriter(path, fps=30.0) as writer:
        for i, row in enumerate(frames(3, seed=1)):
            writer.add(100.0 + i / 30.0, row)
        with pytest.raises(ValueError, match="55"):
            writer.add(101.0, np.zeros(10))
        with pytest.raises(ValueError, match="time order"):
            writer.add(99.0, np.zeros(55))
        assert len(writer) == 3
        assert not path.exists()  # written on close
    track = load_track(path)
    np.testing.assert_allclose(track.times, [0.0, 1 / 30, 2 / 30], atol=1e-4)
    assert writer.close() is None  # closing twice does nothing
    with pytest.raises(ValueError, match="closed"):
        writer.add(200.0, np.zeros(55))
    empty = TrackWriter(tmp_path / "empty.json")
    assert empty.close() is None and not (tmp_path / "empty.json").exists()


def test_readers_map_channels_by_name() -> None:
    data = {"format": "mien-track", "version": 1, "fps": 10, "channels": ["headYaw", "jawOpen"],
            "times": [0.0, 0.1], "weights": [[0.3, 0.5], [-0.2, 1.0]]}  # fmt: skip
    got = from_json(data).frames()
    assert got.shape == (2, 55)
    np.testing.assert_allclose(got[:, INDEX["jawOpen"]], [0.5, 1.0])
    np.testing.assert_allclose(got[:, INDEX["headYaw"]], [0.3, -0.2])
    others = np.delete(got, [INDEX["jawOpen"], INDEX["headYaw"]], axis=1)
    assert not others.any()


def test_resample_holds_the_latest_frame() -> None:
    weights = np.zeros((3, 55), np.float32)
    weights[:, 0] = [0.1, 0.2, 0.3]
    track = Track(30.0, CHANNELS, np.array([0.0, 0.05, 0.2]), weights)
    times, rows = track.resample(10.0)
    np.testing.assert_allclose(times, [0.0, 0.1, 0.2])
    np.testing.assert_allclose(rows[:, 0], [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something"}, "not a Mien track"),
        ({"version": 2}, "version"),
        ({"fps": 0}, "fps"),
        ({"times": [0.0, 0.1, 0.2]}, "weights must be"),
        ({"times": [0.1, 0.0]}, "decrease"),
        ({"weights": [[0.0] * 55, [float("nan")] * 55]}, "finite"),
        ({"channels": [*CHANNELS[:54], "jawOpen"]}, "distinct"),
    ],
)
def test_malformed_tracks_are_refused_with_a_reason(change: dict, message: str) -> None:
    data = {"format": "mien-track", "version": 1, "fps": 30.0, "channels": list(CHANNELS),
            "times": [0.0, 0.1], "weights": [[0.0] * 55, [0.5] * 55]}  # fmt: skip
    from_json(data)  # the unchanged track is fine
    with pytest.raises(ValueError, match=message):
        from_json({**data, **change})


def test_load_track_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json"):
        load_track(bad)


def test_writer_streams_to_disk_in_bounded_memory_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "rec" / "long.json"
    n = 100_000  # ~55 minutes at 30 fps: held in memory, 22 MB of float32 rows
    block = frames(64, seed=3)
    writer = TrackWriter(path, fps=30.0)
    tracemalloc.start()
    try:
        for i in range(n):
            writer.add(5.0 + i / 30.0, block[i % 64])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak  # the frames are on disk...
    assert writer.buffered <= TrackWriter.BLOCK  # ...but for the last block's
    assert len(writer) == n and not path.exists()  # on disk, but not as the track yet
    assert writer.close() == path
    assert not list(path.parent.glob(".*.tmp"))
    track = load_track(path)
    assert len(track) == n and track.channels == CHANNELS
    np.testing.assert_allclose(track.times, np.arange(n) / 30.0, atol=1e-4)
    np.testing.assert_allclose(track.weights, block[np.arange(n) % 64], atol=5e-5)


def test_closing_formats_a_chunk_at_a_time(tmp_path: Path) -> None:
    def peak_of_close(n: int) -> int:
        writer = TrackWriter(tmp_path / f"{n}.json")
        writer.CHUNK = 32
        for i, row in enumerate(frames(n)):
            writer.add(i / 30.0, row)
        tracemalloc.start()
        try:
            writer.close()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak_of_close(256), peak_of_close(2048)
    assert large < 1.25 * small, (small, large)  # 8x the frames, the same memory


@pytest.mark.parametrize("n", [1, 255, 256, 519])  # around the writer's blocks of 256
def test_streamed_file_is_what_save_track_writes(tmp_path: Path, n: int) -> None:
    rows = frames(n, seed=n)
    times = np.cumsum(np.full(n, 1 / 30)) - 1 / 30
    with TrackWriter(tmp_path / "w.json", fps=24.0) as writer:
        for t, row in zip(times, rows, strict=True):
            writer.add(7.25 + t, row)
    saved = save_track(tmp_path / "s.json", np.array([7.25 + t for t in times]) - 7.25, rows, fps=24.0)
    assert (tmp_path / "w.json").read_bytes() == saved.read_bytes()


def test_writer_refuses_non_finite_frames_and_bad_settings(tmp_path: Path) -> None:
    writer = TrackWriter(tmp_path / "t.json")
    writer.add(0.0, np.zeros(55))
    with pytest.raises(ValueError, match="finite"):
        writer.add(0.1, np.full(55, np.nan))
    with pytest.raises(ValueError, match="finite"):
        writer.add(float("inf"), np.zeros(55))
    assert len(writer) == 1 and writer.close() is not None
    with pytest.raises(ValueError, match="fps"):
        TrackWriter(tmp_path / "u.json", fps=0.0)


def test_a_failing_disk_does_not_stop_add_and_close_reports_it(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the directory should be")
    writer = TrackWriter(tmp_path / "taken" / "t.json")
    for i in range(3 * TrackWriter.BLOCK):  # the frame clock calls add: it must keep running
        writer.add(i / 30.0, np.zeros(55))
    with pytest.raises(OSError):
        writer.close()
    assert writer.close() is None
