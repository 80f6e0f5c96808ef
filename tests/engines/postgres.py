"""Debian's PostgreSQL (`postgresql` package: /usr/lib/postgresql/N/bin) as a plain process, on a unix socket
in a temporary directory: no TCP, trust authentication, fsync off. PostgreSQL refuses to run as root, so
under root (the test machine) it runs as the `postgres` user. stop() and start() again keep the socket
(a restart mid-session); each test gets its own database (create_database).

Its pytest fixtures are in tests/engines/postgres_fixtures.py. Without PostgreSQL installed the tests fail,
never skip: `make test` installs it."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

READY = "database system is ready to accept connections"


def bin_dir() -> Path:
    """The newest installed PostgreSQL's binaries."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise AssertionError("PostgreSQL is not installed (Debian's `postgresql`; `make test` installs it)")
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="mien-pg-")
        self.dir = Path(self._tmp.name)  # the socket's directory; the data directory inside it
        self.data = self.dir / "data"
        self.bin = bin_dir()
        # Root may not run it: the postgres user does, and owns the directory.
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        self._proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.dir}"

    @staticmethod
    def database(url: str) -> str:
        """The database a URL of url() names."""
        return urlsplit(url).path.lstrip("/")

    def _run(self, *args: str) -> str:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=self.dir, **self._user)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> PostgresServer:
        """Start it (made the first time); return once it accepts connections (its log says so)."""
        assert self._proc is None, "already running"
        if not self.data.exists():
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres",
                "--encoding=UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
        options = {
            "listen_addresses": "",  # the unix socket only
            "unix_socket_directories": str(self.dir),
            "fsync": "off",  # a test database: speed over durability
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",  # several Mien processes, each with its pool
        }
        args = [str(self.bin / "postgres"), "-D", str(self.data)]
        args += [a for k, v in options.items() for a in ("-c", f"{k}={v}")]
        self._proc = proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=self.dir, **self._user
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            self.log.append(line)
            if READY in line:
                break
        else:
            self._proc = None
            raise AssertionError(f"postgres exited with {proc.wait()}:\n{''.join(self.log)}")
        stderr = proc.stderr

        def drain() -> None:  # its log, read to the end (a full pipe would stop it)
            with stderr:
                self.log.extend(stderr)

        threading.Thread(target=drain, daemon=True).start()
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None

    def stop(self) -> None:
        """A fast shutdown (SIGINT): clients are disconnected, as when a database goes down under them."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql; its unaligned, tuples-only output."""
        psql = self.bin / "psql" if (self.bin / "psql").exists() else Path(shutil.which("psql") or "psql")
        host = ("-h", str(self.dir), "-U", "postgres", "-d", database)
        return self._run(str(psql), *host, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; its URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self._tmp.cleanup()
