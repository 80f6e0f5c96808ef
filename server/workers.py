"""`mien serve --workers N`: N server processes on one listening socket, so a machine's every core serves.

The parent binds the socket and starts the workers (spawned, each building its own app from the same
settings: its own event loop, faces, voices and model); the kernel hands each new connection to one of
them, and a websocket stays on the worker that accepted it. A reconnect may land on any worker: a
resumed conversation comes from the store, the limits from Redis (`redis_url`), which is why several
workers without it refuse to start unless told to keep limits per worker (`local_limits`).

SIGTERM or SIGINT to the parent stops every worker gracefully (each drains its sessions, as one server
does); a worker that dies is replaced, unless it dies while starting (a broken setting would loop).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from typing import Any

import uvicorn
from prometheus_client import multiprocess

from server import metrics
from server.app import MienServer, create_app, log_config, uvicorn_options
from server.settings import Settings

log = logging.getLogger("uvicorn.error")

STARTING = 10.0  # s: a worker that dies sooner than this after starting stops the whole server


def refusal(settings: Settings) -> str | None:
    """Why these settings can't run several workers, or None."""
    if settings.workers > 1 and not settings.redis_url and not settings.local_limits:
        return (
            f"{settings.workers} workers need redis_url (MIEN_REDIS_URL) so that every limit holds across "
            "them; or set local_limits (--local-limits) to let each worker count its own, which multiplies "
            "every limit by the number of workers"
        )
    return None


def serve(settings: Settings, log_level: str) -> int:
    """Run `settings.workers` workers until SIGTERM/SIGINT; the exit code."""
    config = uvicorn.Config(app=None, host=settings.host, port=settings.port, log_level=log_level)  # type: ignore[arg-type]
    sock = config.bind_socket()  # logs "Uvicorn running on ..."
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    context = multiprocessing.get_context("spawn")
    # Each worker writes its metrics here; a scrape answered by any of them adds up all (server/metrics.py).
    shared_metrics = tempfile.mkdtemp(prefix="mien-metrics-")
    os.environ[metrics.MULTIPROC_DIR] = shared_metrics  # the spawned workers start with it
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def start(index: int) -> tuple[Any, float]:
        process = context.Process(
            target=_worker, args=(settings, sock, log_level), name=f"mien-worker-{index}", daemon=False
        )
        process.start()
        log.info("worker %d started (pid %d)", index, process.pid)
        return process, time.monotonic()

    workers = [start(i) for i in range(settings.workers)]
    code = 0
    while not stop.wait(0.5):
        for i, (process, started) in enumerate(workers):
            if process.is_alive():
                continue
            if time.monotonic() - started < STARTING:
                log.error("worker %d exited with %s while starting: stopping", i, process.exitcode)
                stop.set()
                code = 1
                break
            log.warning("worker %d (pid %d) exited with %s: another starts", i, process.pid, process.exitcode)
            multiprocess.mark_process_dead(process.pid, shared_metrics)  # its live gauges no longer count
            workers[i] = start(i)
    for process, _ in workers:  # each drains its sessions (replies finish, clients told to reconnect)
        if process.is_alive():
            process.terminate()
    for process, _ in workers:
        process.join(settings.shutdown_grace + 10)
        if process.is_alive():
            process.kill()
            process.join()
    sock.close()
    shutil.rmtree(shared_metrics, ignore_errors=True)
    return code


def _worker(settings: Settings, sock: socket.socket, log_level: str) -> None:
    app = create_app(settings)
    logs = {"log_level": log_level, "log_config": log_config(log_level)}
    config = uvicorn.Config(app, **logs, **uvicorn_options(settings))
    MienServer(config).run(sockets=[sock])
