"""A real OpenAI-compatible chat-completions server on 127.0.0.1 that streams scripted SSE chunks.

Tests queue scripts; each request takes the next one. A script is a list of steps:
  {"content": "text"}        one SSE chunk carrying that delta
  {"hold": True}             wait until the test calls `release()` or the client goes away
  {"cut": True}              break the connection mid-stream (no [DONE])
  {"garbage": "bytes"}       a non-JSON data line
  {"status": 500}            (first step only) answer with that HTTP status and an error body

`/v1/moderations` flags an input that contains any of `flag_words` (category "harassment"), or answers
with `moderation_status` when that is set (a failing moderation service).

`/v1/audio/speech` (text to speech) answers with real speech: the request's input spoken by Piper (the
offline voice, noise off), encoded in the requested `response_format` (wav, flac, mp3, opus) by
soundfile. `queue_speech` scripts its answers, one per request: {} (speech), {"status": 500},
{"garbage": "text"} (status 200, a body that is no audio) or {"hold": True} (until `release()`).
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections import deque
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from server.runner import LiveServer

Script = list[dict[str, Any]]


class ScriptedOpenAI:
    def __init__(self) -> None:
        self.scripts: deque[Script] = deque()
        self.model_scripts: dict[str, deque[Script]] = {}  # per model (a teacher, a student, an evaluator)
        self.keyed_scripts: list[tuple[str, str, Script]] = []  # (model, words the request holds, script)
        self.requests: list[dict[str, Any]] = []
        self.speech_scripts: deque[dict[str, Any]] = deque()
        self.speech_requests: list[dict[str, Any]] = []
        self.flag_words: set[str] = set()
        self.moderation_status: int | None = None
        self.moderation_requests: list[dict[str, Any]] = []
        self.disconnected = threading.Event()  # a held stream saw its client go away
        self._release = threading.Event()
        self._server: LiveServer | None = None

    def queue(self, *scripts: Script) -> None:
        self.scripts.extend(scripts)

    def queue_for(self, model: str, *scripts: Script) -> None:
        """Scripts answered only to requests for `model` (its bare name, as sent), before the shared ones."""
        self.model_scripts.setdefault(model, deque()).extend(scripts)

    def answer_when(self, model: str, holds: str, script: Script) -> None:
        """A script answered to the first request for `model` whose messages hold `holds` (requests made at
        once arrive in any order: this answers each by what it asks, not by when it came)."""
        self.keyed_scripts.append((model, holds, script))

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("model") == model]

    def queue_speech(self, *steps: dict[str, Any]) -> None:
        self.speech_scripts.extend(steps)

    def release(self) -> None:
        self._release.set()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"{self._server.http_url}/v1"

    def __enter__(self) -> ScriptedOpenAI:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/audio/speech", self._speech, methods=["POST"]),
                Route("/v1/moderations", self._moderations, methods=["POST"]),
            ]
        )
        self._server = LiveServer(app).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        assert self._server is not None
        self._server.__exit__(*exc)

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        asked = json.dumps(body.get("messages"))
        keyed = next((k for k in self.keyed_scripts if k[0] == body.get("model") and k[1] in asked), None)
        own = self.model_scripts.get(body.get("model", ""))
        if keyed is not None:
            self.keyed_scripts.remove(keyed)
            script = keyed[2]
        else:
            script = (
                own.popleft() if own else self.scripts.popleft() if self.scripts else [{"content": "Hello."}]
            )
        if "status" in script[0]:
            status = script[0]["status"]
            return JSONResponse(
                {"error": {"message": f"scripted failure {status}", "type": "server_error"}},
                status_code=status,
            )
        if not body.get("stream"):  # one whole answer (what a non-streaming client asks for)
            if any(step.get("hold") for step in script):
                await asyncio.to_thread(self._release.wait)
            text = "".join(step.get("content", "") for step in script)
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            usage = {"prompt_tokens": 10, "completion_tokens": len(text) // 4 + 1, "total_tokens": 0}
            return JSONResponse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "fake"),
                    "choices": [choice],
                    "usage": usage,
                }
            )
        return StreamingResponse(
            self._stream(script, body.get("model", "fake")), media_type="text/event-stream"
        )

    async def _stream(self, script: Script, model: str):  # type: ignore[no-untyped-def]
        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            payload = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n".encode()

        yield chunk({"role": "assistant", "content": ""})
        for step in script:
            if "content" in step:
                yield chunk({"content": step["content"]})
            elif "garbage" in step:
                yield f"data: {step['garbage']}\n\n".encode()
            elif step.get("cut"):
                raise ConnectionResetError("scripted cut")
            elif step.get("hold"):
                try:
                    # Starlette cancels this generator when the client disconnects.
                    await asyncio.to_thread(self._release.wait)
                except asyncio.CancelledError:
                    self.disconnected.set()
                    raise
        yield chunk({}, "stop")
        yield b"data: [DONE]\n\n"

    async def _moderations(self, request: Request) -> Response:
        body = await request.json()
        self.moderation_requests.append(body)
        if self.moderation_status is not None:
            error = {"error": {"message": "scripted moderation failure", "type": "server_error"}}
            return JSONResponse(error, status_code=self.moderation_status)
        flagged = any(word in str(body.get("input", "")).lower() for word in self.flag_words)
        categories = {"harassment": flagged, "violence": False}
        scores = {name: 0.9 if on else 0.01 for name, on in categories.items()}
        result = {"flagged": flagged, "categories": categories, "category_scores": scores}
        return JSONResponse({"id": "modr-fake", "model": body.get("model", "fake"), "results": [result]})

    async def _speech(self, request: Request) -> Response:
        body = await request.json()
        self.speech_requests.append(body)
        step = self.speech_scripts.popleft() if self.speech_scripts else {}
        if "status" in step:
            return JSONResponse(
                {"error": {"message": f"scripted failure {step['status']}", "type": "server_error"}},
                status_code=step["status"],
            )
        if "garbage" in step:
            return Response(step["garbage"].encode(), media_type="audio/wav")
        if step.get("hold"):
            await asyncio.to_thread(self._release.wait)
        fmt = body.get("response_format", "mp3")
        audio = await asyncio.to_thread(_spoken, body["input"], fmt)
        return Response(audio, media_type=f"audio/{fmt}")


_FORMATS = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "mp3": ("MP3", None),
    "opus": ("OGG", "OPUS"),
}
_piper_lock = threading.Lock()
_piper: Any = None


def _spoken(text: str, fmt: str) -> bytes:
    """`text` said by Piper, as a file in `fmt` (what a TTS provider sends)."""
    global _piper
    import soundfile as sf

    from server.voice.piper import PiperVoice

    with _piper_lock:
        if _piper is None:
            _piper = PiperVoice(noise_scale=0.0)
    speech = _piper.synthesize(text)
    audio, rate = speech.audio, speech.sample_rate
    if fmt == "opus":  # Opus takes 8/12/16/24/48 kHz
        n = round(len(audio) * 24_000 / rate)
        audio, rate = np.interp(np.arange(n) * (rate / 24_000), np.arange(len(audio)), audio), 24_000
    kind, subtype = _FORMATS[fmt]
    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, np.float32), rate, format=kind, subtype=subtype)
    return buf.getvalue()
