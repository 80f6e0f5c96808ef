"""`mien serve | chat`."""

from __future__ import annotations

import argparse
import asyncio
import json
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
        )
    except ConfigError as e:
        print(f"mien serve: {e}", file=sys.stderr)
        return 2
    print(f"Mien serving http://{settings.host}:{settings.port} (model: {settings.model})", flush=True)
    uvicorn.run(
        create_app(settings),
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
    serve.add_argument("--log-level", default="info")
    chat = sub.add_parser("chat", help="send one message to a running server and print the reply")
    chat.add_argument("message")
    chat.add_argument("--url", default="ws://127.0.0.1:8000/ws")
    chat.add_argument("--json", action="store_true", help="one JSON event per line")
    chat.add_argument("--speak", action="store_true", help="speak the text as a scripted line (no model)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    from websockets.exceptions import WebSocketException

    try:
        return asyncio.run(_chat(args.url, args.message, args.json, args.speak))
    except (OSError, WebSocketException) as e:
        print(f"mien chat: cannot reach a Mien server at {args.url}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
