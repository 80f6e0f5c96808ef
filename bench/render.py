"""How fast the browser draws the head while frames stream: Debian's chromium (headless, software
WebGL through SwiftShader, the flags of the browser tests) shows `<mien-avatar>` at 640×480 against a real
Mien server, the face speaking scripted lines so mouth, brows and eyes move; the page counts the frames
actually drawn (three.js's own counter) on every requestAnimationFrame.

python -m bench.render [--glb URL] [--size 640x480] [--seconds 10] [--screenshot PNG] [--full-look]
                               [--json]

Prints drawn frames per second (overall, and the median and worst 1-second window), the interval between
drawn frames, the cost of one draw measured synchronously (render + a 1-pixel read back, so SwiftShader
really finishes it), how many server frames reached the face, and the head's vertex / morph / draw-call
counts. Target: >= 30 fps at 640×480 with models/ict_head.glb.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

TARGET_FPS = 30.0
# Debian's chromium (never a browser Playwright downloads) with the flags the browser tests use too:
# software WebGL, nothing from the network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Lines with tags, so emotions and visemes keep many morph targets moving.
LINES = [
    "[joy] That's wonderful news, I'm so happy for you!",
    "[surprise:0.7] Really? [thinking] Let me think about that for a moment.",
    "[sadness:0.6] Oh no, I'm sorry to hear it. [confusion] Wait, what do you mean?",
    "[anger:0.5] That is not fair at all. [joy:0.6] But we'll sort it out together.",
]

# The import map of Mien's page (three.js from the server), added by a script building a page in place.
IMPORT_MAP_JS = """  const map = document.createElement('script');
  map.type = 'importmap';
  map.textContent = JSON.stringify({ imports: {
    three: '/vendor/three/build/three.module.js', 'three/addons/': '/vendor/three/examples/jsm/' } });
  document.head.append(map);
"""

# Builds the page on the server's own origin (a page Playwright fulfils itself counts as a public address
# and may not open a socket to 127.0.0.1): the import map first, then the element at a fixed size.
SETUP = (
    """async ({ width, height, model, fullLook }) => {
  document.title = 'Mien render benchmark';
  if (fullLook) globalThis.mienSoftwareGL = false; // the hardware path: MSAA, GPU morphs, PBR
"""
    + IMPORT_MAP_JS
    + """  document.body.replaceChildren();
  document.body.style.cssText = 'margin: 0; background: #1d1a19';
  await import('/web/mien-avatar.js');
  const a = document.createElement('mien-avatar');
  a.style.cssText = `display: block; width: ${width}px; height: ${height}px; aspect-ratio: auto`;
  a.setAttribute('chat', 'off'); // the face alone fills the element
  if (model) a.setAttribute('model', model);
  document.body.append(a);
}"""
)

# In the page: keep the face speaking scripted lines (the next when one ends), then warm up.
WARM = """async ({ warmup, lines }) => {
  const a = document.querySelector('mien-avatar');
  await a.ready;
  let line = 0;
  const next = () => a.speak(lines[line++ % lines.length]);
  a.addEventListener('replyend', next);
  next();
  const end = performance.now() + warmup * 1000;
  while (performance.now() < end) await new Promise((r) => requestAnimationFrame(r));
}"""

# Count drawn frames (three.js's counter) on every animation frame for `seconds`.
MEASURE = """async ({ seconds }) => {
  const a = document.querySelector('mien-avatar');
  const { liveFaces } = await import('/web/face.js');
  const face = [...liveFaces][0];
  const drawnAt = [], rafAt = [], active = [];
  let drawn = face.drawn;
  const seq0 = a.frameSeq;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const t = await new Promise((r) => requestAnimationFrame(r));
    rafAt.push(t);
    if (face.drawn !== drawn) { drawn = face.drawn; drawnAt.push(t); active.push(face.stats().activeMorphs); }
  }
  return { elapsed: performance.now() - start, drawnAt, rafAt, seqs: a.frameSeq - seq0, active };
}"""

# The cost of one draw, synchronously (render + a 1-pixel read back, so SwiftShader really finishes it).
PROBE = """async ({ probes }) => {
  const { liveFaces } = await import('/web/face.js');
  const face = [...liveFaces][0];
  const drawMs = [];
  for (let i = 0; i < probes; i++) {
    const t0 = performance.now();
    face.drawSync();
    drawMs.push(performance.now() - t0);
  }
  return { drawMs, stats: face.stats() };
}"""


def _gpu_cpu_seconds(profile: str) -> float:
    """CPU time (user + system) of this browser's GPU process, where SwiftShader rasterizes; found by its
    profile directory. CPU time, unlike wall time, hardly depends on what else the machine is doing."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"--type=gpu-process" not in cmdline or profile.encode() not in cmdline:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _windows(times_ms: list[float], start: float, end: float) -> list[int]:
    """Drawn frames in each whole second from `start`."""
    counts = [0] * max(1, int((end - start) // 1000))
    for t in times_ms:
        i = int((t - start) // 1000)
        if 0 <= i < len(counts):
            counts[i] += 1
    return counts


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(raw: dict[str, Any], glb: str, width: int, height: int, gpu_cpu_s: float) -> dict[str, Any]:
    drawn, raf = raw["drawnAt"], raw["rafAt"]
    start = raf[0] if raf else 0.0
    seconds = raw["elapsed"] / 1000
    windows = _windows(drawn, start, start + raw["elapsed"])
    intervals = [b - a for a, b in itertools.pairwise(drawn)]
    stats = raw["stats"]
    fps = len(drawn) / seconds
    gpu_ms = 1000 * gpu_cpu_s / max(1, len(drawn))
    return {
        "glb": glb,
        "width": width,
        "height": height,
        "device_pixels": [stats["width"], stats["height"]],
        "seconds": round(seconds, 2),
        "fps": round(fps, 2),
        "fps_p50": statistics.median(windows),
        "fps_min": min(windows),
        "raf_per_second": round(len(raf) / seconds, 2),
        "interval_ms_p50": round(_percentile(intervals, 0.5), 1),
        "interval_ms_p95": round(_percentile(intervals, 0.95), 1),
        "draw_ms_p50": round(statistics.median(raw["drawMs"]), 1),
        "draw_ms_min": round(min(raw["drawMs"]), 1),
        # The GPU process's CPU time per drawn frame (rasterizing and compositing), and the rate that
        # allows when it has a core to itself: what a less busy machine would show.
        "gpu_process_cpu_ms_per_frame": round(gpu_ms, 1),
        "fps_if_gpu_process_had_a_core": round(1000 / gpu_ms, 1) if gpu_ms else None,
        "server_frames_per_second": round(raw["seqs"] / seconds, 2),
        "active_morphs_p50": statistics.median(raw["active"]) if raw["active"] else 0,
        "vertices": stats["vertices"],
        "morph_targets": stats["morphTargets"],
        "draw_calls": stats["calls"],
        "webgl": stats["renderer"],
        "antialias": stats["antialias"],
        "cpu_deform": stats["cpuDeform"],
        "triangles": stats["triangles"],
        "target_fps": TARGET_FPS,
        "meets_target": statistics.median(windows) >= TARGET_FPS,
    }


def measure(
    glb: str | None = None,
    width: int = 640,
    height: int = 480,
    seconds: float = 10.0,
    warmup: float = 3.0,
    probes: int = 20,
    screenshot: str | None = None,
    full_look: bool = False,
) -> dict[str, Any]:
    """A real server (no model needed: the lines are scripted) and chromium; returns the summary."""
    from playwright.sync_api import sync_playwright

    from server.app import create_app
    from server.runner import LiveServer
    from server.settings import Settings

    with tempfile.TemporaryDirectory() as data, sync_playwright() as p:
        app = create_app(Settings(data_dir=data, model="bench-no-model"), warm_up=False)
        profile = str(Path(data) / "chromium-profile")
        with LiveServer(app) as server:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": width, "height": height},
            )
            try:
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{server.http_url}/healthz")
                page.evaluate(SETUP, {"width": width, "height": height, "model": glb, "fullLook": full_look})
                page.evaluate(WARM, {"warmup": warmup, "lines": LINES})
                cpu_before = _gpu_cpu_seconds(profile)
                raw = page.evaluate(MEASURE, {"seconds": seconds})
                cpu_used = _gpu_cpu_seconds(profile) - cpu_before
                raw |= page.evaluate(PROBE, {"probes": probes})
                if screenshot:
                    page.locator("mien-avatar").screenshot(path=screenshot)
                if errors:
                    raise RuntimeError(f"the page failed: {errors}")
            finally:
                context.close()
    return summarise(raw, glb or "models/ict_head.glb", width, height, cpu_used)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("--glb", help="the head's URL on the server (default: the persona's, ict_head.glb)")
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the element in CSS pixels")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--screenshot", help="save the element's picture at the end (PNG)")
    parser.add_argument(
        "--full-look", action="store_true", help="draw as on a GPU (MSAA, morphs in shaders, PBR) to compare"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    result = measure(
        args.glb,
        width,
        height,
        args.seconds,
        args.warmup,
        screenshot=args.screenshot,
        full_look=args.full_look,
    )
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
