"""`python -m bench.speech [--json] [--runs N]`: time to first audio, measured where the issue names it.
A real server runs in this process, so its moments and the client's share one clock:

- complete: the reply's first sentence is complete at the server. For the model, when the chunk that
  ends it arrives from litellm (`model_*`); also when the speaker gets it (after the tag parser and the
  emotion classifier), logged by server/voice/speaker.py.
- leave: the first audio message is handed to the socket (an ASGI wrapper around the app sees it).
- at the client: from the text delta that completes the first sentence to the first audio message.

Sources: `scripted` (`speak` lines, nothing else running; a short first sentence, a long one with
clauses, a long one without) and `model` (the embedded SmolLM2 generating the rest of the reply on the
same cores while the voice speaks its first sentence: the contended case). Also: audio bytes per second
of speech and stop -> reply_end while speaking.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from server.protocol.frames import AUDIO_KIND, decode_audio
from server.reply.sentences import SENTENCE_END
from server.settings import Settings

SCRIPTED = (
    "I'm so glad you asked. Let me tell you about the lighthouse. It stands on the cliff.",
    "Well, when the old keeper finally retired after forty years on the island, the whole village "
    "gathered on the pier to thank him. He smiled.",
    "The lighthouse keeper climbed the winding stairs every single night to light the great lamp for the "
    "passing ships. It never failed.",
)
PROMPTS = (
    "Tell me about lighthouses.",
    "How do I make a good cup of tea?",
    "I just got great news, I passed my exam!",
    "Why is the sky blue?",
    "What should I cook for dinner tonight?",
)


class _Marks(logging.Handler):
    """Moments of one run: the speaker's log records and the ASGI wrapper's audio sends (perf_counter)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.reset()

    def reset(self) -> None:
        self.complete: float | None = None  # first sentence complete at the speaker
        self.model: float | None = None  # the chunk completing it arrived from the model
        self.leave: float | None = None  # first audio bytes handed to the socket
        self.first: tuple[float, int, float, float] | None = None  # first piece: s, bytes, synth, encode ms

    def emit(self, record: logging.LogRecord) -> None:
        now = time.perf_counter()
        args = record.args
        assert isinstance(args, tuple)
        if "complete" in str(record.msg) and self.complete is None:
            self.complete = now
        elif "queued" in str(record.msg) and args[1] == 0:
            self.first = (float(args[2]), int(args[3]), float(args[4]), float(args[5]))


class _Tap:
    """ASGI wrapper: when the first audio message of a run leaves the server."""

    def __init__(self, app: Any, marks: _Marks) -> None:
        self.app, self.marks = app, marks

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def tapped(message: Any) -> None:
            await send(message)
            data = message.get("bytes") if message["type"] == "websocket.send" else None
            if data and data[0] == AUDIO_KIND and self.marks.leave is None:
                self.marks.leave = time.perf_counter()

        await self.app(scope, receive, tapped if scope["type"] == "websocket" else send)


def _tap_model(marks: _Marks) -> None:
    """Timestamp the model chunk that completes the first sentence (wraps Gateway.stream)."""
    from server.llm import Gateway

    original = Gateway.stream

    async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[str]:
        text = ""
        async for chunk in original(*args, **kwargs):
            text += chunk
            if marks.model is None and SENTENCE_END.search(text):
                marks.model = time.perf_counter()
            yield chunk

    Gateway.stream = stream  # type: ignore[method-assign]


async def _run(url: str, message: dict[str, Any], marks: _Marks) -> dict[str, Any]:
    """One reply with the voice on, in a fresh session; its moments."""
    import websockets

    marks.reset()
    text, t_text, t_audio, stats = "", None, None, {"audio_bytes": 0, "speech_ms": 0}
    async with websockets.connect(url, max_size=1 << 22) as ws:
        await ws.send(json.dumps({"type": "set_voice", "enabled": True}))
        await ws.send(json.dumps(message))
        async for raw in ws:
            now = time.perf_counter()
            if isinstance(raw, bytes):
                if raw[0] == AUDIO_KIND:
                    t_audio = t_audio or now
                    stats["audio_bytes"] += len(decode_audio(raw)[2])
                continue
            msg = json.loads(raw)
            if msg["type"] == "text":
                text += msg["delta"]
                if t_text is None and SENTENCE_END.search(text):
                    t_text = now
            elif msg["type"] == "speech":
                stats["speech_ms"] += msg["duration_ms"]
                if msg["sentence"] == 0:
                    stats["first_chars"] = msg["text_end"] - msg["text_start"]
            elif msg["type"] == "reply_end":
                t_text = t_text or now  # one sentence only: complete when the reply ends
                break
    out = {**stats}
    if marks.complete is not None and marks.leave is not None:
        out["server_ms"] = (marks.leave - marks.complete) * 1000
        if marks.model is not None:
            out["model_server_ms"] = (marks.leave - marks.model) * 1000
            out["model_to_speaker_ms"] = (marks.complete - marks.model) * 1000
    if t_text is not None and t_audio is not None:
        out["client_ms"] = (t_audio - t_text) * 1000
    if marks.first is not None:
        out["first_s"], _, out["synth_ms"], out["encode_ms"] = marks.first
    return out


def _summary(prefix: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {f"{prefix}_runs": len(runs)}
    keys = ("server_ms", "model_server_ms", "client_ms", "model_to_speaker_ms", "synth_ms", "encode_ms")
    for key in keys:
        values = np.array([r[key] for r in runs if key in r])
        if values.size:
            name = f"{prefix}_{key.removesuffix('_ms')}"
            out[f"{name}_ms_median"] = round(float(np.median(values)), 1)
            if key in ("server_ms", "model_server_ms", "client_ms"):
                out[f"{name}_ms_p90"] = round(float(np.percentile(values, 90)), 1)
                out[f"{name}_ms_max"] = round(float(values.max()), 1)
    chars = [r["first_chars"] for r in runs if "first_chars" in r]
    if chars:
        out[f"{prefix}_first_piece_chars_median"] = int(np.median(chars))
    return out


async def _stops(url: str, runs: int) -> list[float]:
    import websockets

    text = " ".join(SCRIPTED)
    stops: list[float] = []
    async with websockets.connect(url, max_size=1 << 22) as ws:
        await ws.send(json.dumps({"type": "set_voice", "enabled": True}))
        for _ in range(runs):
            await ws.send(json.dumps({"type": "speak", "text": text}))
            async for raw in ws:
                if isinstance(raw, str) and json.loads(raw)["type"] == "speech":
                    break
            t_stop = time.perf_counter()
            await ws.send(json.dumps({"type": "stop"}))
            async for raw in ws:
                if isinstance(raw, str) and json.loads(raw)["type"] == "reply_end":
                    stops.append((time.perf_counter() - t_stop) * 1000)
                    break
    return stops


def _model_available() -> str | None:
    try:
        import llama_cpp  # noqa: F401

        from server.llm.local import gguf_path

        gguf_path()
    except (ImportError, RuntimeError) as e:
        return str(e)
    return None


async def speech_latency(runs: int = 15, model_runs: int = 15, max_tokens: int = 96) -> dict[str, Any]:
    from server.app import create_app
    from server.runner import LiveServer

    marks = _Marks()
    logger = logging.getLogger("mien.speech")
    logger.addHandler(marks)
    logger.setLevel(logging.DEBUG)
    result: dict[str, Any] = {"target_first_audio_ms": 300}
    scripted: list[dict[str, Any]] = []
    try:
        app = _Tap(create_app(Settings(data_dir=None), warm_up=False), marks)
        with LiveServer(app) as server:
            for i in range(runs + 1):  # the first run loads the voice: not counted
                line = {"type": "speak", "text": SCRIPTED[i % len(SCRIPTED)]}
                r = await _run(server.ws_url, line, marks)
                if i:
                    scripted.append(r)
            stops = await _stops(server.ws_url, 5)
        result.update(_summary("scripted", scripted))
        if model_runs and (missing := _model_available()) is None:
            _tap_model(marks)
            model: list[dict[str, Any]] = []
            settings = Settings(data_dir=None, max_tokens=max_tokens)
            with LiveServer(_Tap(create_app(settings), marks)) as server:
                for i in range(model_runs + 1):  # the first run waits for the model to load
                    r = await _run(server.ws_url, {"type": "user_message", "text": PROMPTS[i % 5]}, marks)
                    if i:
                        model.append(r)
            result.update(_summary("model", model))
        elif model_runs:
            result["model_error"] = missing
    finally:
        logger.removeHandler(marks)
    audio = sum(r["audio_bytes"] for r in scripted)
    seconds = sum(r["speech_ms"] for r in scripted) / 1000
    result["audio_bytes_per_second_of_speech"] = round(audio / max(seconds, 1e-9), 1)
    result["stop_to_reply_end_ms_median"] = round(float(np.median(stops)), 1)
    return result


def main(argv: list[str] | None = None) -> int:
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(prog="python -m bench.speech", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="scripted replies")
    parser.add_argument(
        "--model-runs", type=int, default=15, help="replies from the embedded model (0: none)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(speech_latency(args.runs, args.model_runs))
    print(json.dumps(result) if args.json else "\n".join(f"{k:>40}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
