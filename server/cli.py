"""`mien serve | chat | render | avatar | view | say | lipsync | emotion | db`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from importlib import metadata
from pathlib import Path

import animation.commands
import server.chat
import server.hearing.command
from server.settings import Settings


def _settings(config: str | None, **overrides: object) -> Settings:
    """The settings (environment, `--config` or ./mien.toml), then the command line's (ConfigError if bad)."""
    settings = Settings.load()
    if config:
        settings = settings.with_file(Path(config))
    return settings.with_overrides(**overrides)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server import workers
    from server.app import MienServer, create_app, log_config, tls_refusal, uvicorn_options
    from server.settings import ConfigError

    try:
        settings = _settings(
            args.config,
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
            workers=args.workers,
            local_limits=args.local_limits or None,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        )
        if (why := workers.refusal(settings) or tls_refusal(settings)) is not None:
            raise ConfigError(why)
        app = create_app(settings)  # in the workers too; here it checks the settings before any starts
    except ConfigError as e:
        print(f"mien serve: {e}", file=sys.stderr)
        return 2
    each = f", {settings.workers} workers" if settings.workers > 1 else ""
    where = f"{'https' if settings.tls_cert else 'http'}://{settings.host}:{settings.port}"
    print(f"Mien serving {where} (model: {settings.generator}{each})", flush=True)
    if settings.workers > 1:
        del app
        return workers.serve(settings, args.log_level)
    options = uvicorn_options(settings)
    logs = {"log_level": args.log_level, "log_config": log_config(args.log_level)}
    config = uvicorn.Config(app, host=settings.host, port=settings.port, **logs, **options)
    MienServer(config).run()
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
    from server.voice import VoiceFailed, Voices, VoiceUnavailable, check, parse_voice

    try:
        emotion = _emotion_arg(args.emotion)
        settings = Settings.load()  # a cloud voice's endpoint and key, a `default` voice
        spec = parse_voice(args.voice)
        check(spec)
        voice = Voices(settings.voice, settings.cloud_voice()).get(spec)
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


def _emotion(args: argparse.Namespace) -> int:
    """One JSON object per input line: {"text", "emotions": {name: weight}, "valence", "arousal"}."""
    from server.reply.feelings import FEELINGS, evaluate, read_labelled

    if args.eval:
        print(json.dumps(evaluate(read_labelled(args.eval))))
        return 0
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(FEELINGS.profile(line), ensure_ascii=False), flush=True)
    return 0


def _db(args: argparse.Namespace) -> int:
    """`mien db migrate` and `mien db migrate-sqlite PATH`, on the PostgreSQL at `database_url`."""
    from server.settings import ConfigError

    try:
        settings = _settings(args.config, database_url=args.database_url)
    except ConfigError as e:
        print(f"mien db: {e}", file=sys.stderr)
        return 2
    if not settings.database_url:
        print("mien db: no database_url (MIEN_DATABASE_URL, or database_url in mien.toml)", file=sys.stderr)
        return 2
    return asyncio.run(_db_run(args, settings.database_url))


async def _db_run(args: argparse.Namespace, url: str) -> int:
    from server.store import StoreUnavailable
    from server.store.copy import copy_sqlite
    from server.store.postgres import PostgresStore

    store = PostgresStore(url, timeout=120.0)  # an operator's command: long migrations, big sessions
    try:
        if args.db_command == "migrate":
            await store.start()  # migrates, under the lock other processes take too
            done = ", ".join(store.migrated)
            print(f"{store.where}: " + (f"applied {done}" if done else "up to date"))
        else:
            print(f"{args.path} -> {store.where}: {await copy_sqlite(Path(args.path), store)}")
    except (StoreUnavailable, OSError, ValueError) as e:
        print(f"mien db: {e}", file=sys.stderr)
        return 1
    finally:
        await store.close()
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
    serve.add_argument("--workers", type=int, help="server processes sharing the port (default 1)")
    serve.add_argument(
        "--local-limits", action="store_true", help="with --workers and no redis_url: limits per worker"
    )
    serve.add_argument("--tls-cert", help="PEM certificate: serve HTTPS/WSS (with --tls-key)")
    serve.add_argument("--tls-key", help="PEM private key for --tls-cert")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=_serve)
    chat = sub.add_parser("chat", help="send one message to a running server and print the reply")
    chat.add_argument("message", nargs="?")
    chat.add_argument("--audio", metavar="FILE", help="say it instead: a recording streamed as a microphone")
    chat.add_argument(
        "--image", metavar="FILE", help="show the avatar a picture (JPEG, PNG, WebP) with the message"
    )
    chat.add_argument("--url", default="ws://127.0.0.1:8000/ws")
    chat.add_argument("--json", action="store_true", help="one JSON event per line")
    chat.add_argument("--speak", action="store_true", help="speak the text as a scripted line (no model)")
    chat.set_defaults(run=server.chat.chat)
    animation.commands.register(sub)  # render, avatar, view, lipsync
    server.hearing.command.register(sub)  # transcribe
    emotion = sub.add_parser("emotion", help="read lines on stdin, print each line's emotions as JSON")
    emotion.add_argument("--eval", metavar="TSV", help="score a labelled file (sentence<TAB>emotion) instead")
    emotion.set_defaults(run=_emotion)
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
    say.set_defaults(run=_say)
    db = sub.add_parser("db", help="conversations in PostgreSQL (database_url): migrations, moving SQLite in")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--config", help="a TOML settings file (default: $MIEN_CONFIG or ./mien.toml)")
    where.add_argument("--database-url", help="postgresql://... (default: the database_url setting)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("migrate", parents=[where], help="apply the schema's migrations (serve does too)")
    copy = db_sub.add_parser(
        "migrate-sqlite", parents=[where], help="copy a SQLite conversations file in (safe to repeat)"
    )
    copy.add_argument("path", metavar="PATH", help="e.g. ~/.local/share/mien/conversations.sqlite3")
    db.set_defaults(run=_db)
    # Commands other packages add (`mien loadtest` from bench/) through the `mien.commands` entry points:
    # the server never imports them.
    for entry in metadata.entry_points(group="mien.commands"):
        try:
            entry.load()(sub)
        except Exception as e:  # a broken add-on must not take `mien serve` down with it
            print(f"mien: the command {entry.name!r} could not be loaded: {e}", file=sys.stderr)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
