"""Offline by default: start-up, warm-up and a reply from the embedded model with every non-loopback
connection refused (in a fresh interpreter, so litellm is imported under the guard)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

GUARDED = textwrap.dedent(
    """
    import asyncio, socket

    attempts = []
    _connect = socket.socket.connect
    _getaddrinfo = socket.getaddrinfo

    def _loopback(host):
        return host in ("localhost", "::1") or str(host).startswith("127.")

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            attempts.append(address)
            raise OSError("network blocked by test")
        return _connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _loopback(host):
            attempts.append(host)
            raise socket.gaierror("network blocked by test")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.getaddrinfo = getaddrinfo

    from server.app import _warm_up, create_app
    from server.llm import Gateway
    from server.settings import Settings

    async def main():
        settings = Settings(max_tokens=8, temperature=0.0)
        create_app(settings)
        gateway = Gateway(settings.model_options())
        await _warm_up(gateway)
        chunks = [c async for c in gateway.stream([{"role": "user", "content": "Hi"}])]
        assert chunks, "no reply"
        # Token counting for a remote model's tokenizer must not fetch anything either.
        for model in ("gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", settings.model):
            hello = [{"role": "user", "content": "Hello there, how are you?"}]
            n = Gateway(Settings(model=model).model_options()).count_tokens(hello)
            assert 3 <= n < 40, (model, n)

    asyncio.run(main())
    print("ATTEMPTS", len(attempts), attempts[:5])
    """
)


def test_startup_and_local_reply_never_touch_the_network() -> None:
    # Without LITELLM_LOCAL_MODEL_COST_MAP in the environment: Mien itself must keep litellm offline.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITELLM")}
    result = subprocess.run(
        [sys.executable, "-c", GUARDED], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ATTEMPTS 0 []" in result.stdout, result.stdout
