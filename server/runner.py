"""Run an ASGI app under a real uvicorn server in a background thread (benchmarks and tests).

Binding the listening socket before the server thread starts means clients can connect at once (the
kernel queues them) — no polling for readiness.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

from server.app import MienServer, uvicorn_options

T = TypeVar("T")


class LiveServer:
    def __init__(self, app: Any, port: int = 0, **config: Any) -> None:
        """`port` 0 takes a free one; a given port lets a test restart a server where clients expect it."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this: without it small messages wait on delayed ACKs (~40 ms, Nagle).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        settings = getattr(getattr(app, "state", None), "settings", None)  # a Mien app: serve it as Mien
        options = {"ws_max_size": 1 << 20, **(uvicorn_options(settings) if settings else {}), **config}
        self.server = MienServer(uvicorn.Config(app, log_level="warning", lifespan="on", **options))
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stopped = threading.Event()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def _run(self) -> None:
        try:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        finally:
            self.loop.close()
            self._stopped.set()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run a coroutine on the server's own event loop (to look at or wait for its state) and return
        its result: how a test in another thread awaits what happens inside the server."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._stopped.wait(timeout=30)
        self.sock.close()
