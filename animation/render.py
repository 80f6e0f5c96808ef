"""Pictures of an avatar, offscreen with pyvista (VTK through EGL: no display needed).

    render_emotion("joy", 0.8, "joy.png")            one emotion, front view, framed on the face
    render_sheet("sheet.png")                         every emotion in a labelled grid
    render_track(load_track("t.json"), "t.mp4")       a recorded track to video (.mp4 or .gif)
    view()                                            an interactive window, a slider per emotion

Poses come from the server's engine (animation.pose.emotion_frame), calibrated for the avatar; materials are
the GLB's (base colour x vertex colour), lit like the browser's portrait lights (web/face.js).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TextIO

import numpy as np

from animation.arkit import N_CHANNELS
from animation.avatar import DEFAULT_GLB
from animation.pose import PosedAvatar, emotion_frame

if TYPE_CHECKING:
    from PIL import ImageFont

    from animation.track import Track

BACKGROUND = (0.19, 0.19, 0.2)  # a neutral dark grey: the face reads against it as in the browser
FOV_DEG = 22.0  # web/face.js's portrait lens
# Framing, in fractions of the head's height (crown to the upper neck the head joint carries): a portrait crop
# that spends the picture on the face, trimming the top of the skull and the neck below the chin.
CROP_TOP = -0.02  # negative: a little headroom above the crown
CROP_BOTTOM = 0.06
# The browser's lights (web/face.js): colour, direction toward the light, intensity (tuned for VTK's Phong).
LIGHTS = (
    ((1.0, 0.90, 0.82), (-1.3, 1.5, 2.0), 1.0),  # warm key, upper left
    ((0.84, 0.89, 1.0), (1.8, 0.0, 1.2), 0.3),  # cool fill, right
    ((1.0, 0.97, 0.94), (1.0, 1.4, -2.0), 0.5),  # rim, behind
    ((1.0, 0.95, 0.9), (0.0, 1.0, 0.3), 0.12),  # sky (three.js's hemisphere light, roughly)
)
AMBIENT = 0.12


def _pyvista(off_screen: bool = True) -> ModuleType:
    if off_screen:
        # Offscreen through EGL: no X display needed. Only when unset, so a user's choice stands.
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    elif os.environ.get("VTK_DEFAULT_OPENGL_WINDOW") == "vtkEGLRenderWindow":
        del os.environ["VTK_DEFAULT_OPENGL_WINDOW"]  # an on-screen window needs the platform's default
    import pyvista as pv

    return pv


def _srgb(linear: np.ndarray) -> np.ndarray:
    """glTF colours are linear; VTK shades what it is given, so hand it display (sRGB) values."""
    c = np.clip(linear, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


class Renderer:
    """One pyvista scene of an avatar; `image(frame)` poses it and returns the picture (uint8 [h, w, 3])."""

    def __init__(
        self,
        avatar: PosedAvatar | None = None,
        size: int | tuple[int, int] = 512,
        background: tuple[float, float, float] = BACKGROUND,
        off_screen: bool = True,
    ) -> None:
        pv = _pyvista(off_screen)
        self.avatar = avatar or PosedAvatar()
        w, h = (size, size) if isinstance(size, int) else size
        self.plotter = pv.Plotter(off_screen=off_screen, window_size=(w, h), lighting="none")
        self.plotter.set_background(background)
        self.meshes = []
        rest = self.avatar.pose(np.zeros(N_CHANNELS, np.float32))
        for part, (points, normals) in zip(self.avatar.parts, rest, strict=True):
            prim = part.prim
            mesh = pv.PolyData(points, np.c_[np.full(len(prim.triangles), 3), prim.triangles].ravel())
            mesh.point_data["Normals"] = normals
            mesh.point_data.active_normals_name = "Normals"
            mat = prim.material
            rgba = np.tile(np.array(mat.color), (len(points), 1))
            if prim.colors is not None:
                rgba = rgba * prim.colors
            rgba[:, :3] = _srgb(rgba[:, :3])
            if not mat.blend:
                rgba[:, 3] = 1.0
            mesh.point_data["rgba"] = np.round(rgba * 255).astype(np.uint8)
            self.plotter.add_mesh(
                mesh, scalars="rgba", rgba=True, interpolation="phong", ambient=AMBIENT, diffuse=0.85,
                specular=0.25 * (1.0 - mat.roughness), specular_power=6.0 + 30.0 * (1.0 - mat.roughness),
                culling=False if mat.double_sided else "back", show_scalar_bar=False,
            )  # fmt: skip
            self.meshes.append(mesh)
        # No depth peeling: it doubled the cost of a frame for lash cards that only ever lie over opaque skin.
        self._light(pv)
        self._frame_camera(w / h)

    def _light(self, pv: ModuleType) -> None:
        lo, hi = self.avatar.face_box()
        centre = (lo + hi) / 2
        for color, toward, intensity in LIGHTS:
            d = np.array(toward, dtype=float)
            light = pv.Light(position=tuple(centre + 10 * d / np.linalg.norm(d)), focal_point=tuple(centre),
                             color=color, intensity=intensity, light_type="scene light")  # fmt: skip
            light.positional = False
            self.plotter.add_light(light)

    def _frame_camera(self, aspect: float) -> None:
        """Front view on the face: from just above the crown to just below the chin."""
        lo, hi = self.avatar.face_box()
        top, bottom = hi[1] - CROP_TOP * (hi[1] - lo[1]), lo[1] + CROP_BOTTOM * (hi[1] - lo[1])
        height = top - bottom
        width = (hi[0] - lo[0]) * 1.1
        centre = (lo + hi) / 2
        target = np.array([centre[0], (top + bottom) / 2, centre[2]])
        tan = math.tan(math.radians(FOV_DEG / 2))
        distance = max(height / 2 / tan, width / 2 / (tan * aspect))
        cam = self.plotter.camera
        cam.focal_point = tuple(target)
        cam.position = tuple(target + np.array([0.0, distance * 0.06, distance]))
        cam.up = (0.0, 1.0, 0.0)
        cam.view_angle = FOV_DEG
        cam.clipping_range = (distance / 20, distance * 20)
        self.plotter.camera_set = True  # so an interactive show() keeps this framing

    def show(self, frame: np.ndarray) -> None:
        """Pose the avatar (frame: 55 channel values, before calibration)."""
        for mesh, (points, normals) in zip(self.meshes, self.avatar.pose(frame), strict=True):
            mesh.points[:] = points
            mesh.point_data["Normals"][:] = normals
            mesh.Modified()

    def image(self, frame: np.ndarray | None = None) -> np.ndarray:
        if frame is not None:
            self.show(frame)
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True))[..., :3]

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (column, row from the top) of world points, in the current camera."""
        ren = self.plotter.renderer
        h = self.plotter.window_size[1]
        out = []
        for x, y, z in np.asarray(points, dtype=float).reshape(-1, 3):
            ren.SetWorldPoint(x, y, z, 1.0)
            ren.WorldToDisplay()
            col, row, _ = ren.GetDisplayPoint()
            out.append((col, h - 1 - row))
        return np.array(out)

    def close(self) -> None:
        self.plotter.close()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
