"""One supervised task group per session: a client that stops reading until the server's queue for it is
full, then vanishes (its TCP connection reset), leaves nothing behind. Its face slot and its embed key's
place come back within a few animator frames, and the next visitor gets in."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from pathlib import Path

from server.app import create_app
from server.runner import LiveServer
from server.session import Session
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI

SITE = "https://site.example"
FEW_FRAMES = 5  # at 30 fps: the session notices the reset and releases before this many steps pass
SHOW = b'{"type":"set_emotion","emotion":"joy","intensity":0.5}'  # each one is echoed


def open_raw(port: int, path: str) -> socket.socket:
    """A websocket client as plain bytes on a small receive window, so that it can stop reading."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = os.urandom(16).hex()[:22] + "=="
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {SITE}\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)  # byte by byte: nothing after the handshake is read
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def read_frame(sock: socket.socket) -> bytes:
    """One server frame's payload (servers don't mask)."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            data += sock.recv(n - len(data))
        return data

    n = exactly(2)[1] & 0x7F
    if n >= 126:  # an extended length follows
        n = int.from_bytes(exactly(2 if n == 126 else 8))
    return exactly(n)


def masked(payload: bytes) -> bytes:
    """One client text frame (clients mask what they send)."""
    assert len(payload) < 126
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_a_client_that_stops_reading_then_resets_frees_its_face_and_key(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.site]\norigins = ["{SITE}"]\nconcurrent_sessions = 1\n')
    app = create_app(mien_settings(fake_llm, None, embed_keys=str(keys), outbound_limit=16), warm_up=False)
    services, sessions = app.state.services, app.state.sessions
    key, animator = services.gate.keys["site"], services.animator
    with LiveServer(app) as live:
        sock = open_raw(live.port, "/ws?key=site")
        assert json.loads(read_frame(sock))["type"] == "hello"  # the last frame this client reads
        (session,) = sessions.values()
        assert isinstance(session, Session)
        assert services.gate.open_sessions(key) == 1 and animator.faces == 1

        async def full() -> bool:
            return session.out.held.is_set() and session.out.pending == session.out.limit

        # The client sends "show" after "show" and never reads. Its sends stop going through only once the
        # server has stopped reading: its receive loop waits for room in a full queue, whose sender is
        # stuck on the unread socket.
        sock.setblocking(False)
        frame = masked(SHOW)
        while True:
            try:
                sock.send(frame)
                continue
            except BlockingIOError:
                pass
            if live.call(full()):
                break
            live.call(asyncio.wait_for(session.out.held.wait(), 60))
        assert session.out.peak == session.out.limit

        # Now the client vanishes: a TCP reset, not a close handshake.
        before = animator.frames
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        live.call(asyncio.wait_for(session.ended.wait(), 60))

        assert session.face is not None and session.face.released_at is not None
        assert session.face.released_at - before <= FEW_FRAMES
        assert services.gate.open_sessions(key) == 0 and animator.faces == 0 and not sessions

        async def next_visitor() -> dict[str, object]:
            async with Client(f"{live.ws_url}?key=site") as c:
                return await c.next_message("hello")

        assert asyncio.run(next_visitor())["type"] == "hello"  # the key's one place is free again
