"""`mien serve | chat | render | avatar | view | say | lipsync`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from server.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.settings import ConfigError

    try:
        settings = Settings.load()
        if args.config:
            settings = settings.with_file(Path(args.config))
        settings = settings.with_overrides(
            host=args.host,
            port=args.port,
            model=args.model,
            fallbacks=args.fallback or None,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            timeout=args.timeout,
            persona=args.persona,
            record_dir=args.record,
            voice=args.voice,
        )
        app = create_app(settings)
    except ConfigError as e:
        print(f"mien serve: {e}", file=sys.stderr)
        return 2
    print(f"Mien serving http://{settings.host}:{settings.port} (model: {settings.model})", flush=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        ws_max_size=1 << 20,  # larger than this closes the socket; up to it gets a typed error
    )
    return 0


async def _chat(url: str, text: str, as_json: bool, speak: bool) -> int:
    import websockets

    code = 0
    async with websockets.connect(url, max_size=1 << 22) as ws:
        await ws.send(json.dumps({"type": "speak" if speak else "user_message", "text": text}))
        started = False
        async for raw in ws:
            if isinstance(raw, bytes):
                continue  # blendshape frames: a terminal has no face
            msg = json.loads(raw)
            kind = msg["type"]
            if as_json:
                print(json.dumps(msg, ensure_ascii=False), flush=True)
            elif kind == "text":
                print(msg["delta"], end="", flush=True)
            elif kind == "emotion" and msg["source"] != "user":
                print(f"⟨{msg['emotion']} {msg['intensity']:.2f}⟩", end="", flush=True)
            elif kind == "error":
                print(f"\nerror [{msg['code']}]: {msg['message']}", file=sys.stderr, flush=True)
            if kind == "reply_start":
                started = True
            if kind == "error" and not started:
                code = 1
                break
            if kind == "reply_end":
                if not as_json:
                    print()
                code = 0 if msg["status"] == "complete" else 1
                break
    return code


def _render(args: argparse.Namespace) -> int:
    # Heavy imports (pyvista, VTK) only here, so `mien chat` stays quick to start.
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


def _avatar(args: argparse.Namespace) -> int:
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


def _view(args: argparse.Namespace) -> int:
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not display:
        print("mien view needs a display (DISPLAY is not set); for pictures without one use `mien render`",
              file=sys.stderr)  # fmt: skip
        return 2
    from animation import render

    render.view(args.glb)
    return 0


def _emotion_arg(spec: str | None) -> tuple[str, float] | None:
    if not spec:
        return None
    from animation.pose import parse_emotion

    return parse_emotion(spec)


def _say(args: argparse.Namespace) -> int:
    # Heavy imports (onnxruntime, Piper's model) only here.
    import soundfile

    from animation.lipsync import speak_frames
    from animation.track import save_track
    from server.voice import VoiceFailed, VoiceUnavailable
    from server.voices import VOICES, check, parse_voice, resolve

    try:
        emotion = _emotion_arg(args.emotion)
        settings = Settings.load()  # a cloud voice's endpoint and key, a `default` voice
        spec = resolve(parse_voice(args.voice), settings)
        check(spec)
        voice = VOICES.get(spec, settings)
        speech = voice.synthesize(args.text)
        if not len(speech.audio):
            raise ValueError("nothing to say: the text has no speakable words")
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(out), speech.audio, speech.sample_rate, subtype="PCM_16")
        if args.track:
            cue_at = speech.words[0][1] if speech.words else 0.0  # the emotion lands on the first word
            times, frames = speak_frames(speech.visemes(), speech.duration, args.fps, emotion, cue_at)
            save_track(args.track, times, frames, args.fps)
        if args.timings:
            timings = {
                "sample_rate": speech.sample_rate,
                "duration": speech.duration,
                "phonemes": [[p, round(a, 4), round(b, 4)] for p, a, b in speech.phonemes],
                "words": [[w, round(a, 4), round(b, 4), o] for w, a, b, o in speech.words],
            }
            Path(args.timings).write_text(json.dumps(timings, ensure_ascii=False))
    except (OSError, ValueError, VoiceUnavailable, VoiceFailed) as e:
        print(f"mien say: {e}", file=sys.stderr)
        return 2
    extra = f" and {args.track}" if args.track else ""
    print(f"wrote {out} ({speech.duration:.2f} s, {voice.name}){extra}")
    return 0


def _lipsync(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile

    from animation.lipsync import lipsync, speak_frames
    from animation.track import save_track

    try:
        emotion = _emotion_arg(args.emotion)
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


def _emotion(args: argparse.Namespace) -> int:
    """One JSON object per input line: {"text", "emotions": {name: weight}, "valence", "arousal"}."""
    from server.feelings import FEELINGS, evaluate, read_labelled

    if args.eval:
        print(json.dumps(evaluate(read_labelled(args.eval))))
        return 0
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(FEELINGS.profile(line), ensure_ascii=False), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mien", description="Mien: an expressive chatbot with a 3D face")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the web app and websocket API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--model", help="any litellm model string (default: the embedded SmolLM2)")
    serve.add_argument("--fallback", action="append", help="a model to try when the model fails (repeatable)")
    serve.add_argument("--config", help="a TOML settings file (default: $MIEN_CONFIG or ./mien.toml)")
    serve.add_argument("--temperature", type=float)
    serve.add_argument("--max-tokens", type=int)
    serve.add_argument("--timeout", type=float, help="seconds before a silent provider counts as failed")
    serve.add_argument("--persona", help="the default persona (models/personas/<id>.toml)")
    serve.add_argument("--voice", metavar="SPEC", help="the voice (README: voice specs; default Piper)")
    serve.add_argument("--record", metavar="DIR", help="write each session's frame track (JSON) into DIR")
    serve.add_argument("--log-level", default="info")
    chat = sub.add_parser("chat", help="send one message to a running server and print the reply")
    chat.add_argument("message")
    chat.add_argument("--url", default="ws://127.0.0.1:8000/ws")
    chat.add_argument("--json", action="store_true", help="one JSON event per line")
    chat.add_argument("--speak", action="store_true", help="speak the text as a scripted line (no model)")
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
    avatar = sub.add_parser("avatar", help="bake a new face from Mien's head and the ICT identity modes")
    avatar.add_argument("--identity", type=int, required=True, metavar="SEED", help="random identity seed")
    avatar.add_argument("--out", required=True, help="output GLB")
    avatar.add_argument("--strength", type=float, default=1.0, help="scale of the identity (default 1)")
    view = sub.add_parser("view", help="an interactive window with a slider per emotion (needs a display)")
    view.add_argument("--glb", default=default_glb, help="avatar GLB (default: Mien's head)")
    emotion = sub.add_parser("emotion", help="read lines on stdin, print each line's emotions as JSON")
    emotion.add_argument("--eval", metavar="TSV", help="score a labelled file (sentence<TAB>emotion) instead")
    say = sub.add_parser("say", help="speak text to a WAV (offline by default), with the face's frame track")
    say.add_argument("text")
    say.add_argument("--out", required=True, help="output audio (.wav; any format soundfile writes)")
    say.add_argument("--track", metavar="TRACK.json", help="also write the frame track (mien render --track)")
    say.add_argument("--emotion", metavar="NAME[:INTENSITY]", help="an emotion held while speaking")
    say.add_argument(
        "--voice",
        default="default",
        metavar="SPEC",
        help="a voice spec: piper[:rate=R][:pitch=P], espeak[:NAME], litellm:MODEL:VOICE (default: the "
        "`voice` setting, Piper unless configured)",
    )
    say.add_argument("--fps", type=float, default=30.0, help="track frame rate (default 30)")
    say.add_argument("--timings", metavar="TIMINGS.json", help="also write the phoneme and word timings")
    lips = sub.add_parser("lipsync", help="a frame track for any speech audio (no transcript needed)")
    lips.add_argument("audio", metavar="IN.wav")
    lips.add_argument("--out", required=True, metavar="TRACK.json")
    lips.add_argument("--emotion", metavar="NAME[:INTENSITY]", help="an emotion held while speaking")
    lips.add_argument("--fps", type=float, default=30.0, help="track frame rate (default 30)")
    args = parser.parse_args(argv)
    if args.command == "emotion":
        return _emotion(args)
    if args.command == "say":
        return _say(args)
    if args.command == "lipsync":
        return _lipsync(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "render":
        return _render(args)
    if args.command == "avatar":
        return _avatar(args)
    if args.command == "view":
        return _view(args)
    from websockets.exceptions import WebSocketException

    try:
        return asyncio.run(_chat(args.url, args.message, args.json, args.speak))
    except (OSError, WebSocketException) as e:
        print(f"mien chat: cannot reach a Mien server at {args.url}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
