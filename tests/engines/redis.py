"""Debian's `redis-server` on a unix socket in a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, directory: Path | None = None) -> None:
        self._tmp = None if directory is not None else tempfile.TemporaryDirectory(prefix="mien-redis-")
        self.dir = Path(directory or self._tmp.name)  # type: ignore[union-attr]
        self.socket = self.dir / "redis.sock"
        self.url = f"unix://{self.socket}"
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> RedisServer:
        """Start it and return once it accepts connections (it says so on stdout)."""
        assert self._proc is None, "already running"
        options = {
            "port": "0",  # no TCP: the unix socket only
            "unixsocket": str(self.socket),
            "unixsocketperm": "700",
            "save": "",  # nothing on disk: a restart starts empty, as a lost Redis would
            "appendonly": "no",
            "dir": str(self.dir),
            "loglevel": "notice",
        }
        args = [REDIS_SERVER, *(a for k, v in options.items() for a in (f"--{k}", v))]
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self._proc.stdout is not None
        seen = []
        for line in self._proc.stdout:
            seen.append(line)
            if "ready to accept connections" in line.lower():  # 7.0: "The server is now ready ..."
                break
        else:
            raise AssertionError(f"redis-server exited with {self._proc.wait()}:\n{''.join(seen)}")
        stdout = self._proc.stdout

        def drain() -> None:  # its log, read to the end (a full pipe would stop it)
            with stdout:
                stdout.read()

        threading.Thread(target=drain, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None

    def flush(self) -> None:
        """Forget every key (between tests sharing one server)."""
        import redis

        with redis.Redis(unix_socket_path=str(self.socket)) as r:
            r.flushall()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
