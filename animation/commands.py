"""`mien render | avatar | view | lipsync`: the animation's own commands, registered into the mien CLI.

`register(subparsers)` adds each subparser with `run` set to its body (argparse Namespace -> exit code).
Heavy imports (pyvista, VTK, soundfile) stay inside the bodies, so `mien chat` starts quickly.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the render, avatar, view and lipsync subparsers to the CLI's `sub`."""
    # animation.avatar.DEFAULT_GLB, spelled out: importing it would load numpy before any command runs.
    default_glb = str(Path(__file__).resolve().parent.parent / "models" / "ict_head.glb")
    render = sub.add_parser("render", help="render the face to a picture or video (offscreen)")
    what = render.add_mutually_exclusive_group(required=True)
    what.add_argument("--emotion", metavar="NAME[:INTENSITY]", help="one emotion, e.g. joy or sadness:0.6")
    what.add_argument("--sheet", action="store_true", help="every emotion in a labelled grid")
    what.add_argument("--track", metavar="TRACK.json", help="a recorded frame track, to .mp4 or .gif")
    render.add_argument("--out", required=True, help="output file (.png; .mp4 or .gif for --track)")
    render.add_argument("--size", type=int, help="pixels per picture (default 512; 320 per sheet tile)")
    render.add_argument("--glb", default=default_glb, help="avatar GLB (default: Mien's head)")
    render.add_argument("--audio", metavar="WAV", help="with --track and .mp4: mux this audio in (mien say)")
    render.set_defaults(run=run_render)
    avatar = sub.add_parser("avatar", help="bake a new face from Mien's head and the ICT identity modes")
    avatar.add_argument("--identity", type=int, required=True, metavar="SEED", help="random identity seed")
    avatar.add_argument("--out", required=True, help="output GLB")
    avatar.add_argument("--strength", type=float, default=1.0, help="scale of the identity (default 1)")
    avatar.set_defaults(run=run_avatar)
    view = sub.add_parser("view", help="an interactive window with a slider per emotion (needs a display)")
    view.add_argument("--glb", default=default_glb, help="avatar GLB (default: Mien's head)")
    view.set_defaults(run=run_view)
    lips = sub.add_parser("lipsync", help="a frame track for any speech audio (no transcript needed)")
    lips.add_argument("audio", metavar="IN.wav")
    lips.add_argument("--out", required=True, metavar="TRACK.json")
    lips.add_argument("--emotion", metavar="NAME[:INTENSITY]", help="an emotion held while speaking")
    lips.add_argument("--fps", type=float, default=30.0, help="track frame rate (default 30)")
    lips.set_defaults(run=run_lipsync)


def run_render(args: argparse.Namespace) -> int:
    from animation import render
    from animation.avatar import DEFAULT_GLB
    from animation.pose import PosedAvatar, parse_emotion

    out = Path(args.out)
    try:
        if args.track and out.suffix.lower() not in (".mp4", ".gif"):
            raise ValueError(f"--track renders video: --out must end in .mp4 or .gif, not {out.suffix!r}")
        avatar = PosedAvatar(args.glb)
        if avatar.missing and Path(args.glb).resolve() != DEFAULT_GLB.resolve():  # Mien's own lacks tongueOut
            print(f"note: {args.glb} has no morph target for {', '.join(avatar.missing)}", file=sys.stderr)
        if avatar.calibration.unknown:
            print(f"note: calibration names no ARKit shape: {', '.join(avatar.calibration.unknown)}",
                  file=sys.stderr)  # fmt: skip
        if args.track:
            from animation.track import load_track

            track = load_track(args.track)
            bar = render.ProgressBar(1, f"rendering {out.name}")

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done)

            render.render_track(track, out, args.size or 512, avatar, progress=progress, audio=args.audio)
        elif args.sheet:
            render.render_sheet(out, args.size or 320, avatar)
        else:
            emotion, intensity = parse_emotion(args.emotion)
            render.render_emotion(emotion, intensity, out, args.size or 512, avatar)
    except (OSError, ValueError) as e:
        print(f"mien render: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def run_avatar(args: argparse.Namespace) -> int:
    import shutil

    from animation.avatar import DEFAULT_GLB, identity_glb, sidecar_path

    out = Path(args.out)
    try:
        glb = identity_glb(args.identity, args.strength)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(glb)
        calibration = sidecar_path(DEFAULT_GLB)
        if calibration.is_file():  # same shapes as Mien's head, so the same calibration
            shutil.copyfile(calibration, sidecar_path(out))
    except (OSError, ValueError) as e:
        print(f"mien avatar: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({len(glb) / 1e6:.2f} MB, identity {args.identity})")
    return 0


def run_view(args: argparse.Namespace) -> int:
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not display:
        print("mien view needs a display (DISPLAY is not set); for pictures without one use `mien render`",
              file=sys.stderr)  # fmt: skip
        return 2
    from animation import render

    render.view(args.glb)
    return 0


def run_lipsync(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile

    from animation.lipsync import lipsync, speak_frames
    from animation.pose import parse_emotion
    from animation.track import save_track

    try:
        emotion = parse_emotion(args.emotion) if args.emotion else None
        audio, sr = soundfile.read(args.audio, dtype="float32", always_2d=True)
        mono = np.mean(audio, axis=1)
        if not len(mono):
            raise ValueError(f"{args.audio}: no audio")
        duration = len(mono) / sr
        times, frames = speak_frames(lipsync(mono, sr), duration, args.fps, emotion)
        save_track(args.out, times, frames, args.fps)
    except (OSError, ValueError, RuntimeError) as e:  # soundfile raises LibsndfileError (a RuntimeError)
        print(f"mien lipsync: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(times)} frames over {duration:.2f} s)")
    return 0
