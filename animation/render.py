"""Pictures of an avatar, offscreen with pyvista (VTK through EGL: no display needed).

    render_emotion("joy", 0.8, "joy.png")            one emotion, front view, framed on the face
    render_sheet("sheet.png")                         every emotion in a labelled grid
    render_track(load_track("t.json"), "t.mp4")       a recorded track to video (.mp4 or .gif)
    view()                                            an interactive window, a slider per emotion

Poses come from the server's engine (animation.pose.emotion_frame), calibrated for the avatar; the scene
(the GLB's materials, the browser's portrait lights, the face-framing camera) is animation.scene.Renderer.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from animation.avatar import DEFAULT_GLB
from animation.pose import PosedAvatar, emotion_frame
from animation.scene import BACKGROUND, Renderer

if TYPE_CHECKING:
    from PIL import ImageFont

    from animation.track import Track


def save_image(image: np.ndarray, out: Path | str) -> Path:
    import imageio.v3 as iio

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out, image)
    return out


def _avatar(avatar: PosedAvatar | Path | str | None) -> PosedAvatar:
    return avatar if isinstance(avatar, PosedAvatar) else PosedAvatar(avatar or DEFAULT_GLB)


def render_emotion(emotion: str, intensity: float, out: Path | str, size: int = 512,
                   avatar: PosedAvatar | Path | str | None = None) -> Path:  # fmt: skip
    with Renderer(_avatar(avatar), size) as r:
        return save_image(r.image(emotion_frame({emotion: intensity})), out)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 ships a scalable default font
    except TypeError:
        return ImageFont.load_default()


def sheet_image(renderer: Renderer, emotions: Iterable[tuple[str, float]], columns: int = 5,
                background: tuple[float, float, float] = BACKGROUND) -> np.ndarray:  # fmt: skip
    """Tiles of the renderer's size, each labelled under the face, in a grid."""
    from PIL import Image, ImageDraw

    items = list(emotions)
    tiles = [renderer.image(emotion_frame({name: level})) for name, level in items]
    th, tw = tiles[0].shape[:2]
    label_h = max(18, th // 9)
    rows = math.ceil(len(tiles) / columns)
    bg = tuple(round(c * 255) for c in background)
    sheet = Image.new("RGB", (columns * tw, rows * (th + label_h)), bg)
    draw = ImageDraw.Draw(sheet)
    font = _font(int(label_h * 0.62))
    for i, ((name, level), tile) in enumerate(zip(items, tiles, strict=True)):
        x, y = (i % columns) * tw, (i // columns) * (th + label_h)
        sheet.paste(Image.fromarray(tile), (x, y))
        text = name if level >= 1.0 else f"{name} {level:.1f}"
        draw.text((x + tw / 2, y + th + label_h / 2 - 2), text, fill=(236, 231, 226), font=font, anchor="mm")
    return np.asarray(sheet)


def render_sheet(out: Path | str, size: int = 320, avatar: PosedAvatar | Path | str | None = None,
                 intensity: float = 1.0) -> Path:  # fmt: skip
    from animation.emotions import EMOTIONS

    with Renderer(_avatar(avatar), size) as r:
        return save_image(sheet_image(r, [(e, intensity) for e in EMOTIONS]), out)


class ProgressBar:
    """A one-line progress bar on stderr (no dependency)."""

    def __init__(self, total: int, label: str = "", width: int = 30, stream: TextIO = sys.stderr) -> None:
        self.total, self.label, self.width, self.stream = max(total, 1), label, width, stream
        self._shown: int | None = None

    def update(self, done: int) -> None:
        percent = 100 * done // self.total
        if percent == self._shown and done < self.total:
            return  # redraw only when the percentage changes
        self._shown = percent
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} ({percent}%)")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def render_track(
    track: Track,
    out: Path | str,
    size: int = 512,
    avatar: PosedAvatar | Path | str | None = None,
    fps: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    audio: Path | str | None = None,
) -> Path:
    """A track (animation.track.Track) to video: .mp4 (H.264 via imageio-ffmpeg) or .gif; frames at the
    track's rate (or `fps`), each the latest track row at that time. `audio` (a WAV, e.g. from `mien say`)
    is muxed into an .mp4 as AAC, starting with the track."""
    import imageio.v2 as imageio

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise ValueError(f"unsupported video format {suffix!r}: use .mp4 or .gif")
    if audio is not None and suffix != ".mp4":
        raise ValueError("audio can only be muxed into an .mp4")
    rate = float(fps or track.fps)
    _, frames = track.resample(rate)
    if not len(frames):
        raise ValueError("the track has no frames")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".mp4":
        sound = {"audio_path": str(audio), "audio_codec": "aac"} if audio is not None else {}
        writer = imageio.get_writer(out, fps=rate, codec="libx264", quality=7, macro_block_size=8,
                                    ffmpeg_log_level="error", **sound)  # fmt: skip
    else:
        writer = imageio.get_writer(out, mode="I", duration=1000.0 / rate, loop=0)
    with Renderer(_avatar(avatar), size) as r, writer:
        for i, frame in enumerate(frames):
            writer.append_data(r.image(frame))
            if progress:
                progress(i + 1, len(frames))
    return out


def view(avatar: PosedAvatar | Path | str | None = None, size: int = 720) -> None:
    """An interactive window: one slider per emotion (its intensity), mixed by the engine."""
    from animation.emotions import EMOTIONS

    # Wider than tall: the face stays centred with room on the left for the sliders.
    renderer = Renderer(_avatar(avatar), (round(size * 1.4), size), off_screen=False)
    levels = dict.fromkeys(EMOTIONS[1:], 0.0)

    def update(name: str, value: float) -> None:
        levels[name] = float(value)
        renderer.show(emotion_frame(levels))
        renderer.plotter.render()

    for i, name in enumerate(levels):
        y = 0.94 - i * 0.1
        renderer.plotter.add_slider_widget(
            lambda v, n=name: update(n, v), (0.0, 1.0), value=0.0, title=name, pointa=(0.02, y),
            pointb=(0.2, y), style="modern", title_height=0.018, fmt="%.2f",
        )  # fmt: skip
    renderer.plotter.show(title="Mien")
