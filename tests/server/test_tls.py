"""`mien serve --tls-cert --tls-key`: HTTPS and WSS, so a phone on the LAN gets a secure context (its
microphone needs one), with a self-signed certificate made by openssl as docs/deploy.md says."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import websockets

from tests.fakes.openai_server import ScriptedOpenAI
from tests.fakes.process import MienProcess


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_https_and_wss(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert))
    mien = MienProcess(fake_llm, tmp_path / "data", args=("--tls-cert", str(cert), "--tls-key", str(key)))
    mien.start()
    try:
        health = urllib.request.urlopen(f"https://127.0.0.1:{mien.port}/healthz", context=trusted, timeout=30)
        assert health.status == 200

        async def hello() -> dict[str, object]:
            async with websockets.connect(f"wss://127.0.0.1:{mien.port}/ws", ssl=trusted) as ws:
                return json.loads(await ws.recv())

        message = asyncio.run(hello())
        assert message["type"] == "hello" and message["speech_input"]["available"] is True  # type: ignore[index]
        with pytest.raises(OSError):  # plain HTTP is not served on that port (the connection is dropped)
            urllib.request.urlopen(f"http://127.0.0.1:{mien.port}/healthz", timeout=30)
    finally:
        mien.kill()
    assert any("Uvicorn running on https://" in line for line in mien.log)


def test_half_a_tls_setting_is_refused(tmp_path: Path) -> None:
    cert, _key = self_signed(tmp_path)
    cases = [(("--tls-cert", str(cert)), "both"), (("--tls-cert", str(cert), "--tls-key", "nope"), "no such")]
    for args, why in cases:
        run = subprocess.run(
            [sys.executable, "-m", "server.cli", "serve", *args], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 2 and why in run.stderr
