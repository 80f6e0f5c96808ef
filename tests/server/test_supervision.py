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

import websockets

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
    # Read at any rate (client_messages_per_second): what stops the reading here must be the full queue.
    settings = mien_settings(
        fake_llm, None, embed_keys=str(keys), outbound_limit=16, client_messages_per_second=100_000
    )
    app = create_app(settings, warm_up=False)
    services, sessions = app.state.services, app.state.sessions
    key, animator = services.gate.keys["site"], services.animator
    with LiveServer(app) as live:
        sock = open_raw(live.port, "/ws?key=site")
        assert json.loads(read_frame(sock))["type"] == "hello"  # the last frame this client reads
        (session,) = sessions.values()
        assert isinstance(session, Session)
        assert live.call(services.gate.open_sessions(key)) == 1 and animator.faces == 1

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
        assert live.call(services.gate.open_sessions(key)) == 0 and animator.faces == 0 and not sessions

        async def next_visitor() -> dict[str, object]:
            async with Client(f"{live.ws_url}?key=site") as c:
                return await c.next_message("hello")

        assert asyncio.run(next_visitor())["type"] == "hello"  # the key's one place is free again


def test_a_client_that_asks_for_exports_and_reads_nothing_holds_at_most_the_byte_budget(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """Each export copies the whole conversation out: ~1,000 of them, unread, would queue hundreds of MB
    under a bound by count alone. The byte budget stops the receive loop instead."""
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.site]\norigins = ["{SITE}"]\nmessages_per_minute = 100\n')
    budget = 65_536
    settings = mien_settings(
        fake_llm,
        tmp_path / "data",
        embed_keys=str(keys),
        outbound_bytes=budget,
        exports_per_minute=10_000,
        client_messages_per_second=100_000,
    )
    app = create_app(settings, warm_up=False)
    sessions = app.state.sessions
    line = "All the waves of the sea. " * 150  # ~3.9 kB a reply
    fake_llm.queue(*([{"content": line}] for _ in range(4)))
    with LiveServer(app) as live:

        async def converse() -> tuple[str, int]:
            async with Client(f"{live.ws_url}?key=site") as c:
                hello = await c.next_message("hello")
                for i in range(4):
                    n = len(c.messages)
                    await c.send({"type": "user_message", "text": f"tell me {i}"})
                    assert (await c.next_message("reply_end", after=n))["status"] == "complete"
                await c.send({"type": "export_history"})
                export = await c.next_message("history", reason="export")
                return str(hello["session_id"]), len(json.dumps(export))

        session_id, one_export = asyncio.run(converse())
        sock = open_raw(live.port, f"/ws?key=site&session={session_id}")
        hello = json.loads(read_frame(sock))
        assert hello["type"] == "hello" and hello["resumed"] is True
        (session,) = sessions.values()
        export = masked(b'{"type":"export_history"}')
        sock.setblocking(False)
        sent = 0
        while True:
            try:
                sock.send(export)
                sent += 1
                continue
            except BlockingIOError:
                pass
            if live.call(_held(session)):
                break
            live.call(asyncio.wait_for(session.out.held.wait(), 60))
        # Queued: under the budget, plus the one export that found room, plus a few small messages.
        assert session.out.bytes <= budget + one_export * 1.1 + 1000
        assert session.out.pending < 40  # far below the count bound (1024): bytes stopped it
        sock.close()
        live.call(asyncio.wait_for(session.ended.wait(), 60))


async def _held(session: Session) -> bool:
    return session.out.held.is_set()


def test_two_hundred_clients_dropping_mid_stream_leave_no_session_behind(fake_llm: ScriptedOpenAI) -> None:
    """Under load: 200 sockets, each in the middle of a reply's stream (a scripted line, its text and frames
    flowing), vanish without a close handshake. Every session ends, and every face slot and admission
    comes back."""
    n = 200
    line = "[joy] " + "A long line that keeps streaming for a while. " * 20
    settings = mien_settings(fake_llm, None, connections_per_visitor=n, messages_per_minute=n)
    app = create_app(settings, warm_up=False)
    services, sessions = app.state.services, app.state.sessions
    with LiveServer(app) as live:

        async def main() -> None:
            async def streaming() -> websockets.ClientConnection:
                ws = await websockets.connect(live.ws_url)
                await ws.send(json.dumps({"type": "speak", "text": line}))
                async for raw in ws:
                    if isinstance(raw, str) and json.loads(raw)["type"] == "text":
                        return ws
                raise AssertionError("closed before the reply streamed")

            clients = await asyncio.gather(*(streaming() for _ in range(n)))
            open_now = live.call(_snapshot(sessions))
            assert len(open_now) == n and services.animator.faces == n
            for ws in clients:
                ws.transport.abort()  # gone: no close frame
            live.call(_all_ended(open_now))

        asyncio.run(main())
        assert not sessions and live.call(services.gate.open_sessions()) == 0 and services.animator.faces == 0


async def _all_ended(sessions: list[Session]) -> None:
    await asyncio.wait_for(asyncio.gather(*(s.ended.wait() for s in sessions)), 120)


async def _snapshot(sessions: dict[str, Session]) -> list[Session]:
    return list(sessions.values())
