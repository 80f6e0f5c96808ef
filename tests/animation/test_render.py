"""Offscreen pictures (animation/render.py, pyvista through EGL) and `mien render | avatar | view`.

Poses come from the server's engine, so these check what the engine's output looks like on the head: joy
changes the mouth and leaves the crown alone, the face sits inside the picture, a sheet has a labelled tile
per emotion, a track becomes a video.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from animation.arkit import ARKIT_52, CHANNELS, INDEX, N_CHANNELS
from animation.emotions import EMOTIONS
from animation.pose import PosedAvatar, emotion_frame
from animation.render import BACKGROUND, Renderer, render_track, save_image, sheet_image
from animation.track import Track

SIZE = 160
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
BG = np.array([round(c * 255) for c in BACKGROUND])


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    with Renderer(PosedAvatar(), SIZE) as r:
        yield r


def skin_points(renderer: Renderer, moved_by: tuple[str, ...] = ()) -> np.ndarray:
    """The head's skin vertices; with shape names, only those the shapes move most (over half the most)."""
    part = next(p for p in renderer.avatar.parts if p.prim.material.name == "skin")
    pts = part.prim.positions
    if not moved_by:
        return pts[part.prim.head_weight >= 0.99]
    motion = sum(np.linalg.norm(part.prim.targets[ARKIT_52.index(n)], axis=1) for n in moved_by)
    return pts[motion > 0.5 * motion.max()]


def test_joy_changes_the_mouth_and_the_face_is_in_frame(renderer: Renderer) -> None:
    neutral = renderer.image(emotion_frame({"neutral": 1.0})).astype(int)
    joy = renderer.image(emotion_frame({"joy": 1.0})).astype(int)
    assert neutral.shape == joy.shape == (SIZE, SIZE, 3)

    # The mouth region: where the smile shapes move the skin, projected into the picture.
    cols, rows = renderer.project(skin_points(renderer, ("mouthSmileLeft", "mouthSmileRight"))).T
    c0, c1, r0, r1 = int(cols.min()), int(cols.max()) + 1, int(rows.min()), int(rows.max()) + 1
    assert 0 < c0 < c1 < SIZE and 0 < r0 < r1 < SIZE
    diff = np.abs(joy - neutral).sum(axis=2)
    mouth = diff[r0:r1, c0:c1]
    assert (mouth > 30).mean() > 0.1, "joy should visibly change the mouth region"
    crown = diff[: r0 // 3]  # the top of the head: joy does not move it
    assert (crown > 30).mean() < 0.01

    # Framed on the face: the head is inside the picture with background around it on top and at the
    # sides (the neck runs out at the bottom), and the whole head projects inside the picture.
    for picture in (neutral, joy):
        subject = np.any(picture != BG, axis=2)
        rows_on, cols_on = np.flatnonzero(subject.any(axis=1)), np.flatnonzero(subject.any(axis=0))
        assert rows_on[0] >= 2, "headroom above the crown"
        assert cols_on[0] >= 4 and cols_on[-1] <= SIZE - 5, "background at both sides"
        assert subject.mean() > 0.3, "the face fills the picture"
    head_cols, head_rows = renderer.project(skin_points(renderer)).T
    assert head_cols.min() > 0 and head_cols.max() < SIZE and head_rows.min() > 0


def test_head_channels_turn_the_head_in_the_picture(renderer: Renderer) -> None:
    frame = np.zeros(N_CHANNELS, np.float32)
    ahead = renderer.image(frame).astype(int)
    frame[INDEX["headYaw"]] = 0.4
    turned = renderer.image(frame).astype(int)
    assert np.abs(turned - ahead).sum(axis=2).mean() > 5
    # +yaw turns the face to the subject's left, the picture's right: the nose tip moves right.
    skin = renderer.avatar.parts.index(
        next(p for p in renderer.avatar.parts if p.prim.material.name == "skin")
    )
    rest, posed = renderer.avatar.pose(np.zeros(N_CHANNELS))[skin][0], renderer.avatar.pose(frame)[skin][0]
    nose = rest[:, 2].argmax()
    (before, _), (after, _) = renderer.project(rest[nose])[0], renderer.project(posed[nose])[0]
    assert after > before + 5


def test_sheet_has_a_labelled_tile_per_emotion(renderer: Renderer) -> None:
    sheet = sheet_image(renderer, [(e, 1.0) for e in EMOTIONS])
    save_image(sheet, ARTIFACTS / "sheet.png")  # to look at (artifacts/ is not committed)
    rows = sheet.shape[0] // 2
    assert sheet.shape[1] == 5 * SIZE and 2 * SIZE < sheet.shape[0] < 2 * SIZE + 80
    for i in range(10):
        r, c = divmod(i, 5)
        label = sheet[r * rows + SIZE : (r + 1) * rows, c * SIZE : (c + 1) * SIZE]
        assert np.any(label.max(axis=2) > 200), f"tile {EMOTIONS[i]} has no label"


def test_a_track_renders_to_gif_and_mp4(tmp_path: Path) -> None:
    n = 6
    weights = np.zeros((n, N_CHANNELS), np.float32)
    weights[:, INDEX["jawOpen"]] = np.linspace(0, 1, n)
    track = Track(10.0, CHANNELS, np.arange(n) / 10.0, weights)
    calls: list[tuple[int, int]] = []
    gif = render_track(track, tmp_path / "t.gif", size=64, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (n, n) and len(calls) == n
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == n and frames.shape[1:3] == (64, 64)
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).sum() > 0  # the jaw moved
    assert iio.immeta(gif)["duration"] == 100  # ms per frame: the track's 10 fps
    mp4 = render_track(track, tmp_path / "t.mp4", size=64)
    assert mp4.stat().st_size > 1000 and mp4.read_bytes()[4:8] == b"ftyp"
    assert _streams(mp4) == ["Video"]


def _streams(video: Path) -> list[str]:
    import imageio_ffmpeg

    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(video)], capture_output=True, text=True
    )
    return [line.split(": ")[1] for line in probe.stderr.splitlines() if line.strip().startswith("Stream #")]


def test_audio_is_muxed_into_an_mp4(tmp_path: Path) -> None:
    import soundfile as sf

    n = 6
    track = Track(10.0, CHANNELS, np.arange(n) / 10.0, np.zeros((n, N_CHANNELS), np.float32))
    wav = tmp_path / "a.wav"
    sf.write(wav, 0.2 * np.sin(np.arange(16000 * 0.6) * 2 * np.pi * 220 / 16000), 16000)
    mp4 = render_track(track, tmp_path / "a.mp4", size=64, audio=wav)
    assert _streams(mp4) == ["Video", "Audio"]
    with pytest.raises(ValueError, match="mp4"):
        render_track(track, tmp_path / "a.gif", size=64, audio=wav)


def mien(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip


def test_cli_renders_an_emotion_and_bakes_an_identity(tmp_path: Path) -> None:
    out = tmp_path / "sad.png"
    done = mien("render", "--emotion", "sadness:0.7", "--out", str(out), "--size", "96")
    assert done.returncode == 0, done.stderr
    assert iio.imread(out).shape == (96, 96, 3)
    bad = mien("render", "--emotion", "glee", "--out", str(tmp_path / "x.png"))
    assert bad.returncode == 2 and "unknown emotion" in bad.stderr
    face = tmp_path / "face.glb"
    made = mien("avatar", "--identity", "4", "--out", str(face))
    assert made.returncode == 0, made.stderr
    assert face.stat().st_size > 1_000_000 and (tmp_path / "face.calibration.json").is_file()


def test_view_without_a_display_says_so() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = mien("view", env=env)
    assert done.returncode == 2 and "needs a display" in done.stderr
