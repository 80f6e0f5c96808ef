"""A real OpenAI-compatible chat-completions server on 127.0.0.1 that streams scripted SSE chunks.

Tests queue scripts; each request takes the next one. A script is a list of steps:
  {"content": "text"}        one SSE chunk carrying that delta
  {"hold": True}             wait until the test calls `release()` or the client goes away
  {"cut": True}              break the connection mid-stream (no [DONE])
  {"garbage": "bytes"}       a non-JSON data line
  {"status": 500}            (first step only) answer with that HTTP status and an error body
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from server.runner import LiveServer

Script = list[dict[str, Any]]


class ScriptedOpenAI:
    def __init__(self) -> None:
        self.scripts: deque[Script] = deque()
        self.requests: list[dict[str, Any]] = []
        self.disconnected = threading.Event()  # a held stream saw its client go away
        self._release = threading.Event()
        self._server: LiveServer | None = None

    def queue(self, *scripts: Script) -> None:
        self.scripts.extend(scripts)

    def release(self) -> None:
        self._release.set()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"{self._server.http_url}/v1"

    def __enter__(self) -> ScriptedOpenAI:
        app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])
        self._server = LiveServer(app).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        assert self._server is not None
        self._server.__exit__(*exc)

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        script = self.scripts.popleft() if self.scripts else [{"content": "Hello."}]
        if "status" in script[0]:
            status = script[0]["status"]
            return JSONResponse(
                {"error": {"message": f"scripted failure {status}", "type": "server_error"}},
                status_code=status,
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
