"""`mien serve` in its own process (crash, restart and several-process tests): its model the scripted
OpenAI-compatible server, started and waited for through its own log."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tests.fakes.openai_server import ScriptedOpenAI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MienProcess:
    def __init__(
        self,
        fake_llm: ScriptedOpenAI,
        data: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        workers: int = 1,
    ) -> None:
        self.port = port or free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws"
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log: list[str] = []
        self._env = {
            **os.environ,
            "MIEN_MODEL": "fake-model",
            "MIEN_API_BASE": fake_llm.base_url,
            "MIEN_RETRIES": "0",
            "MIEN_DATA_DIR": str(data),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            **(env or {}),
        }
        self._args = args
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> MienProcess:
        """Start it; return once it listens and every worker has started its app (uvicorn says so)."""
        mien = Path(sys.executable).parent / "mien"
        command = [str(mien), "serve", "--port", str(self.port), "--log-level", "info", *self._args]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self.proc = proc = subprocess.Popen(
            command,
            env=self._env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # its own process group: a kill takes its workers too
        )
        assert proc.stderr is not None
        started, listening = 0, False  # one process: started, then listening; workers: the reverse
        for line in proc.stderr:
            self.log.append(line)
            started += "Application startup complete" in line
            listening = listening or "Uvicorn running" in line
            if started == self.workers and listening:
                break
        else:
            raise AssertionError(f"mien serve exited with {proc.wait()}:\n{''.join(self.log)}")
        stderr = proc.stderr

        def read() -> None:  # keep reading its log (a full pipe would block it), to the end
            with stderr:
                self.log.extend(stderr)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        return self

    def kill(self) -> None:
        """SIGKILL to it and its workers, and wait until it is gone."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            assert self._reader is not None
            self._reader.join()
            self.proc = None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (a graceful stop); its exit code."""
        assert self.proc is not None
        self.proc.terminate()
        code = self.proc.wait(timeout)
        assert self._reader is not None
        self._reader.join()
        self.proc = None
        return code
