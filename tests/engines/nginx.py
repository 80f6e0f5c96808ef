"""Debian's `nginx` as a plain process, running the deployment's own config (deploy/nginx/mien.conf) in
front of Mien processes on this machine.

The main nginx.conf written here is test-only (logs, pid and temp files in a temporary directory, one worker
so round robin is in order); every `server {}` and the `upstream` block are deploy/'s, included as they are.
Only the site's own files that mien.conf includes from `mien/` are written for this machine: the upstream
list (deploy's server lines, their parameters kept, addresses replaced by the test's processes), where to
listen (loopback ports), a self-signed certificate made with `openssl` for 127.0.0.1, and who may read
/metrics."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from tests.fakes.process import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
_SERVER_LINE = re.compile(r"^\s*server\s+(\S+)(?P<params>[^;]*);", re.MULTILINE)

MAIN_CONF = """\
{user}
worker_processes 1;  # one worker: round robin goes through the upstreams in order
error_log stderr notice;  # "start worker process" at notice: the moment it serves (read by start())
events {{
    worker_connections 1024;
}}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/temp/body;
    proxy_temp_path {dir}/temp/proxy;
    fastcgi_temp_path {dir}/temp/fastcgi;
    uwsgi_temp_path {dir}/temp/uwsgi;
    scgi_temp_path {dir}/temp/scgi;
    include {deploy}/mien.conf;
}}
"""


def upstream_lines(addresses: Sequence[str], deploy: Path = DEPLOY) -> str:
    """deploy/'s upstream list with its addresses replaced by these (each keeps deploy's parameters)."""
    params = [m["params"] for m in _SERVER_LINE.finditer((deploy / "upstream.conf").read_text())]
    assert params, f"no server lines in {deploy / 'upstream.conf'}"
    return "".join(f"server {a}{params[i % len(params)]};\n" for i, a in enumerate(addresses))


class NginxServer:
    def __init__(
        self,
        upstreams: Sequence[str],
        monitoring: Sequence[str] = (),
        directory: Path | None = None,
    ) -> None:
        """`upstreams`: the Mien processes ("127.0.0.1:PORT"); `monitoring`: addresses allowed /metrics."""
        self._tmp = None if directory is not None else tempfile.TemporaryDirectory(prefix="mien-nginx-")
        self.dir = Path(directory or self._tmp.name)  # type: ignore[union-attr]
        self.upstreams = list(upstreams)
        self.monitoring = list(monitoring)
        self.https_port, self.http_port = free_port(), free_port()
        self.cert = self.dir / "cert.pem"
        self.log: list[str] = []  # its error log (stderr), as it goes
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._logged = threading.Condition()

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}/ws"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's self-signed certificate (and nothing else)."""
        return ssl.create_default_context(cafile=self.cert)

    def _write_site(self) -> Path:
        site = self.dir / "mien"  # mien.conf includes `mien/...`: relative to the main conf's directory
        site.mkdir(exist_ok=True)
        (self.dir / "temp").mkdir(exist_ok=True)
        key = self.dir / "key.pem"
        if not self.cert.exists():
            ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
            names = ["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
            files = ["-keyout", str(key), "-out", str(self.cert)]
            subprocess.run([OPENSSL, "req", "-x509", *ec, *names, *files], check=True, capture_output=True)
        files = {
            "upstream.conf": upstream_lines(self.upstreams),
            "listen-https.conf": f"listen 127.0.0.1:{self.https_port} ssl;\nserver_name _;\n",
            "listen-http.conf": f"listen 127.0.0.1:{self.http_port};\nserver_name _;\n",
            "certificates.conf": f"ssl_certificate {self.cert};\nssl_certificate_key {key};\n",
            "monitoring.conf": "".join(f"allow {a};\n" for a in self.monitoring),
        }
        for name, text in files.items():
            (site / name).write_text(text)
        # Workers drop to `user` when the master runs as root: make it whoever owns the temporary directory
        # (root in CI), or they could not reach their temp files in it. Not root: the directive is moot.
        user = ""
        if os.geteuid() == 0:
            owner = pwd.getpwuid(self.dir.stat().st_uid)
            user = f"user {owner.pw_name} {grp.getgrgid(owner.pw_gid).gr_name};"
        conf = self.dir / "nginx.conf"
        conf.write_text(MAIN_CONF.format(user=user, dir=self.dir, deploy=DEPLOY))
        return conf

    def start(self) -> NginxServer:
        """Start it; return once its worker serves (the master has bound both ports before that)."""
        assert self._proc is None, "already running"
        conf = self._write_site()
        args = [NGINX, "-p", str(self.dir), "-c", str(conf), "-g", f"daemon off; pid {self.dir}/nginx.pid;"]
        self._proc = proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            self.log.append(line)
            if "start worker process " in line:  # "start worker process 1234": bound, and accepting
                break
        else:
            code = proc.wait()
            self._proc = None
            raise AssertionError(f"nginx exited with {code}:\n{''.join(self.log)}")
        stderr = proc.stderr

        def read() -> None:  # its error log, read to the end (a full pipe would stop it)
            with stderr:
                for line in stderr:
                    with self._logged:
                        self.log.append(line)
                        self._logged.notify_all()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        return self

    def wait_for_log(self, predicate: Callable[[str], bool], since: int = 0, timeout: float = 10) -> str:
        """The first line of its error log from line `since` on that satisfies `predicate`, once written."""
        with self._logged:
            found = self._logged.wait_for(lambda: next(filter(predicate, self.log[since:]), None), timeout)
        assert found is not None, f"nothing like that in nginx's log:\n{''.join(self.log)}"
        return found

    def stop(self) -> None:
        """A fast stop (SIGTERM): open websockets are cut, as a restart of the proxy would."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGTERM)
            self._proc.wait(10)
            assert self._reader is not None
            self._reader.join()
            self._proc = None

    def __enter__(self) -> NginxServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
