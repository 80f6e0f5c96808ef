"""The server side of `mien loadtest`: start `mien serve` in its own process (`--serve`), find a local
server's process by its port, and sample a process's CPU time and RSS from /proc."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    t: float  # monotonic
    cpu: float  # s of CPU (user + system, every thread) since the process started
    rss_mb: float


def _stat(pid: int | str) -> list[str] | None:
    """/proc/PID/stat's fields from the state on (field 3), or None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "


def _tree(pid: int) -> list[int]:
    """The process and its descendants (`mien serve --workers N`: the parent and its workers)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and (fields := _stat(proc.name)) is not None:
            children.setdefault(int(fields[1]), []).append(int(proc.name))  # field 4: the parent's pid
    found, todo = [], [pid]
    while todo:
        found.append(p := todo.pop())
        todo += children.get(p, [])
    return found


def sample(pid: int) -> Sample | None:
    """CPU time and resident memory of the process and its descendants now, or None when it is gone."""
    cpu = rss = 0.0
    for p in _tree(pid):
        fields = _stat(p)
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            status = ""
        if fields is None:
            if p == pid:
                return None
            continue
        cpu += (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)
        rss += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return Sample(time.monotonic(), cpu, rss / 1024)


def machine_cpu() -> float:
    """s of CPU the whole machine has spent busy (every core, every process) since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / _TICKS  # all but idle and iowait (guest is in user)


def find_pid(url: str) -> int | None:
    """The local process listening on the URL's port (one of this user's), or None."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1", "0.0.0.0") or parts.port is None:
        return None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == parts.port:  # LISTEN
                    inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(proc.name)
    return None


def quiet(pid: int, deadline: float, busy: float = 0.1) -> None:
    """Wait until the process uses under `busy` of a core over a second (or the deadline passes)."""
    previous = sample(pid)
    while previous is not None and time.monotonic() < deadline:
        time.sleep(1.0)
        now = sample(pid)
        if now is None or (now.cpu - previous.cpu) / (now.t - previous.t) < busy:
            return
        previous = now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@contextlib.contextmanager
def served(serve_args: list[str], env: dict[str, str], timeout: float = 180.0) -> Iterator[tuple[str, int]]:
    """`mien serve` on a free loopback port in its own process (conversations in a temporary directory);
    yields (websocket URL, pid) once /healthz answers, and stops it afterwards."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mien-loadtest-") as tmp:
        log_path = Path(tmp) / "server.log"
        environ = {
            **os.environ,
            "MIEN_DATA_DIR": str(Path(tmp) / "data"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            **env,
        }
        command = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--log-level", "warning", *serve_args]
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, env=environ, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"`mien serve` did not start ({' '.join(command)}):\n{tail}")
                time.sleep(0.2)
            quiet(process.pid, deadline)  # the embedded model and the classifier load after start-up
            yield f"ws://127.0.0.1:{port}/ws", process.pid
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
