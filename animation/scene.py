"""One offscreen pyvista scene of an avatar (VTK through EGL: no display needed): its meshes with the
GLB's materials (base colour x vertex colour), the browser's portrait lights (web/face.js) and a front
camera framed on the face. `Renderer.image(frame)` poses it and returns the picture; animation.render
composes pictures, sheets and videos from it.
"""

from __future__ import annotations

import math
import os
from types import ModuleType

import numpy as np

from animation.arkit import N_CHANNELS
from animation.pose import PosedAvatar

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
