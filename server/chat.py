"""`mien chat`: one turn with a running Mien server from a terminal, over its websocket: a typed message, a
scripted line (`--speak`) or a recording heard as a microphone (`--audio`); the reply as text with its
emotion markers (or every message as JSON lines), and the evaluator's verdict when the server has one."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import server.hearing.command
from server.protocol.frames import encode_image


def chat(args: argparse.Namespace) -> int:
    from websockets.exceptions import WebSocketException

    if ((args.message is None) == (args.audio is None) and not args.image) or (args.audio and args.image):
        print("mien chat: give a MESSAGE (with --image FILE if you like) or --audio FILE", file=sys.stderr)
        return 2
    try:
        image = Path(args.image).read_bytes() if args.image else None
    except OSError as e:
        print(f"mien chat: cannot read the picture: {e}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_chat_once(args.url, args.message or "", args.json, args.speak, args.audio, image))
    except (OSError, WebSocketException) as e:
        print(f"mien chat: cannot reach a Mien server at {args.url}: {e}", file=sys.stderr)
        return 2


async def _chat_once(
    url: str, text: str, as_json: bool, speak: bool, audio: str | None = None, image: bytes | None = None
) -> int:
    import websockets

    code = 0
    async with websockets.connect(url, max_size=1 << 22) as ws:
        if image is not None:  # the picture first; the message names it once the server has it
            await ws.send(encode_image(1, image))
        elif audio is None:
            await ws.send(json.dumps({"type": "speak" if speak else "user_message", "text": text}))
        else:  # what the recording says becomes the message (the server hears it as from a microphone)
            talking = asyncio.create_task(server.hearing.command.stream_file(ws, audio))
        started, judged, ended = False, False, None  # judged: an evaluator's verdict follows each reply
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
            elif kind == "gesture":
                print(f"⟨{msg['gesture']}⟩", end="", flush=True)
            elif kind == "transcript" and msg["final"]:
                print(f"you said: {msg['text'] or '(nothing that was speech)'}", flush=True)
            elif kind == "evaluation":
                print(f"\n{_verdict(msg)}", end="", flush=True)
            if kind == "image":
                await ws.send(
                    json.dumps({"type": "user_message", "text": text or "What do you see?", "image": 1})
                )
            elif kind == "vision" and not as_json:
                print(f"({msg['model']} sees: {msg['description']})", flush=True)
            if kind == "hello":
                judged = msg.get("evaluator") is not None and not speak
            if kind == "transcript" and msg["final"] and not msg["text"]:
                code = 1
                break
            elif kind == "error":
                print(f"\nerror [{msg['code']}]: {msg['message']}", file=sys.stderr, flush=True)
            if kind == "reply_start":
                started = True
            if kind == "error" and not started:
                code = 1
                break
            if kind == "reply_end":
                ended = 0 if msg["status"] == "complete" else 1
                judged = judged and msg["status"] == "complete"  # only a whole reply is judged
            if kind == "evaluation":
                judged = False
            if ended is not None and not judged:
                if not as_json:
                    print()
                code = ended
                break
        if audio is not None:
            talking.cancel()
    return code


def _verdict(msg: dict[str, object]) -> str:
    """An `evaluation` message in one line: each criterion's score, the weakest, what the mode did."""
    if not msg["evaluated"]:
        return f"[not evaluated: {msg['reason']}]"
    scores = " · ".join(f"{s['criterion']} {s['score']:.2f}" for s in msg["scores"])  # type: ignore[attr-defined]
    done = {
        "revise": " (rewritten)" if msg["revised"] else "",
        "pick": f" (candidate {msg['chosen']} of {msg['candidates']})",
    }.get(str(msg["mode"]), "")
    return f"[evaluated by {msg['model']}: {scores}; overall {msg['overall']:.2f}{done}]"
