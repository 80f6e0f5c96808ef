"""face-api.js's face expression network, run in numpy: bench.legibility's second judge.

The model: FaceExpressionNet of face-api.js (Vincent Mühler, MIT; "trained on a variety of images from
publicly available datasets as well as images scraped from the web", its tutorial says), 7 classes, ~310 kB of
uint8- quantized weights, shipped inside the npm package @vladmandic/face-api (MIT, the maintained fork) as
model/face_expression_model.bin and its weights manifest; nothing is fetched at run time. web/package.json's
devDependencies pin the package, so `npm ci` in web/ (make setup) puts it in web/node_modules;
MIEN_FACE_API_DIR may point at another copy of the package.

The network is the package's own code (src/faceFeatureExtractor, src/faceProcessor, src/faceExpressionNet)
written out with numpy: four densely connected blocks of depthwise-separable 3x3 convolutions (TensorFlow's
'same' padding), a 7x7 average pool, a fully connected layer and a softmax, on a 112x112 RGB face with the
package's mean colour subtracted, divided by 255. The face is prepared as the package does: its detector's
box, padded to a square with black on both sides, resized bilinearly as tfjs does (no corner alignment, no
half-pixel centres). On random inputs and on Mien's renders it agrees with the package run in TensorFlow.js
(CPU) to 1e-5.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "@vladmandic/face-api"
MANIFEST = "model/face_expression_model-weights_manifest.json"
LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")  # FACE_EXPRESSION_LABELS
SIZE = 112
MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)


def package_dir() -> Path:
    """Where the npm package is: $MIEN_FACE_API_DIR, else web/node_modules beside this checkout's bench/."""
    override = os.environ.get("MIEN_FACE_API_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "web" / "node_modules" / Path(PACKAGE)


def version() -> str:
    return str(json.loads((package_dir() / "package.json").read_text())["version"])


def load(manifest: Path) -> dict[str, np.ndarray]:
    """The weights by name: uint8 ones dequantized (q * scale + min), float32 ones as stored."""
    weights: dict[str, np.ndarray] = {}
    for group in json.loads(manifest.read_text()):
        data = b"".join((manifest.parent / p).read_bytes() for p in group["paths"])
        at = 0
        for spec in group["weights"]:
            n = int(np.prod(spec["shape"]))
            q = spec.get("quantization")
            if q:
                raw = np.frombuffer(data, np.uint8, n, at)
                value = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
                at += n
            else:
                value = np.frombuffer(data, np.float32, n, at).copy()
                at += 4 * n
            weights[spec["name"]] = value.reshape(spec["shape"])
        if at != len(data):
            raise ValueError(f"{manifest}: the weights take {at} bytes, the files hold {len(data)}")
    return weights


def _patches(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """k x k windows of x [n, h, w, c] with TensorFlow's 'same' padding: [n, oh, ow, c, k, k]."""
    h, w = x.shape[1:3]
    oh, ow = -(-h // stride), -(-w // stride)
    ph, pw = max((oh - 1) * stride + k - h, 0), max((ow - 1) * stride + k - w, 0)
    x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    return windows[:, ::stride, ::stride][:, :oh, :ow]


def _separable(x: np.ndarray, w: dict[str, np.ndarray], name: str, stride: int) -> np.ndarray:
    depthwise = np.einsum("nhwcij,ijc->nhwc", _patches(x, 3, stride), w[f"{name}/depthwise_filter"][..., 0])
    return depthwise @ w[f"{name}/pointwise_filter"][0, 0] + w[f"{name}/bias"]


def _dense_block(x: np.ndarray, w: dict[str, np.ndarray], name: str, first: bool) -> np.ndarray:
    """denseBlock4: a strided first convolution, then three separable ones, each fed the sum before it."""
    if first:
        conv = np.einsum("nhwcij,ijco->nhwo", _patches(x, 3, 2), w[f"{name}/conv0/filters"], optimize=True)
        out = np.maximum(conv + w[f"{name}/conv0/bias"], 0.0)
    else:
        out = np.maximum(_separable(x, w, f"{name}/conv0", 2), 0.0)
    total = out  # out1, then out1 + out2, ...: each convolution sees the relu of the sum so far
    for i in (1, 2, 3):
        total = total + _separable(np.maximum(total, 0.0), w, f"{name}/conv{i}", 1)
    return np.maximum(total, 0.0)


def forward(w: dict[str, np.ndarray], faces: np.ndarray) -> np.ndarray:
    """Class probabilities [n, 7] of faces [n, 112, 112, 3], RGB in 0..255."""
    x = (faces.astype(np.float32) - MEAN_RGB) / np.float32(255.0)
    for i in range(4):
        x = _dense_block(x, w, f"dense{i}", i == 0)
    z = x.mean(axis=(1, 2)) @ w["fc/weights"] + w["fc/bias"]  # the 7x7 average pool of a 7x7 map
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _resize_bilinear(img: np.ndarray, size: int) -> np.ndarray:
    """tf.image.resizeBilinear(img, [size, size], alignCorners=false) as tfjs computes it."""

    def axis(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.arange(size) * (n / size)
        lo = np.floor(src).astype(np.intp)
        return lo, np.minimum(lo + 1, n - 1), (src - lo).astype(np.float32)

    (y0, y1, fy), (x0, x1, fx) = axis(img.shape[0]), axis(img.shape[1])
    img = img.astype(np.float32)
    fx3 = fx[None, :, None]
    top = img[y0][:, x0] * (1 - fx3) + img[y0][:, x1] * fx3
    bottom = img[y1][:, x0] * (1 - fx3) + img[y1][:, x1] * fx3
    return top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]


def prepare(face: np.ndarray) -> np.ndarray:
    """An RGB face crop -> the network's input [1, 112, 112, 3]: padToSquare(centred) and the tfjs resize."""
    h, w = face.shape[:2]
    d = abs(h - w)
    after = int(np.floor(d * 0.5 + 0.5))  # JavaScript's Math.round
    pad = (d - after, after)
    face = np.pad(face, (pad, (0, 0), (0, 0)) if h < w else ((0, 0), pad, (0, 0)))
    return _resize_bilinear(face, SIZE)[None]


class Runner:
    """bench.legibility's face-api judge: `probs(RGB face)` -> the network's 7 class probabilities."""

    def __init__(self, judge: Any) -> None:
        self.judge = judge
        self.weights = load(judge.path())

    def probs(self, face: np.ndarray) -> np.ndarray:
        return forward(self.weights, prepare(face))[0].astype(np.float64)
