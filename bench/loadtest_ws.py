"""A lean websocket client for `mien loadtest`: an asyncio protocol that parses the server's frames itself
and hands each whole message to callbacks, with no future or queue per message.

A general client (the `websockets` library's asyncio layer) costs ~80 µs of CPU per received message;
at 500 sessions × 30 fps that is more than a core, on the same machine as the server it measures. This
one handles only what a client of Mien meets: the upgrade handshake (RFC 6455) with permessage-deflate as
browsers offer it (RFC 7692), unmasked server frames (fragmented or not), ping/pong, close; and it sends
small masked text messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import struct
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover (the C speedups ship in the wheels)
    from websockets.utils import apply_mask

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TAIL = b"\x00\x00\xff\xff"  # removed by the sender of every compressed message (RFC 7692 7.2.1)
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


class HandshakeError(ConnectionError):
    pass


class WsClient(asyncio.Protocol):
    """`on_binary(bytes)` and `on_text(str)` are called for each message, in order, from the loop."""

    def __init__(
        self, request: bytes, key: bytes, on_binary: Callable[[bytes], None], on_text: Callable[[str], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        self.request, self.key = request, key
        self.on_binary, self.on_text = on_binary, on_text
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None  # the server's close frame, when one came
        self.transport: Any = None
        self._buf = bytearray()
        self._upgraded = False
        self._inflate: Any = None  # a zlib decompressor when permessage-deflate was agreed
        self._reset = False  # server_no_context_takeover: a fresh decompressor per message
        self._parts: list[bytes] = []
        self._kind = 0
        self._compressed = False
        self._closing = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionResetError("closed during the handshake"))
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._upgraded and not self._handshake():
            return
        i, n = 0, len(buf)
        while n - i >= 2:
            b0, length = buf[i], buf[i + 1] & 0x7F
            head = 2
            if length == 126:
                if n - i < 4:
                    break
                length, head = (buf[i + 2] << 8) | buf[i + 3], 4
            elif length == 127:
                if n - i < 10:
                    break
                length, head = struct.unpack_from("!Q", buf, i + 2)[0], 10
            end = i + head + length
            if end > n:
                break
            self._frame(b0, bytes(buf[i + head : end]))
            i = end
        del buf[:i]

    def _handshake(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self._buf[:end].decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        accept = base64.b64encode(hashlib.sha1(self.key + _GUID).digest()).decode()
        if head[0].split(" ")[1:2] != ["101"] or headers.get("sec-websocket-accept") != accept:
            if not self.opened.done():
                self.opened.set_exception(HandshakeError(f"refused: {head[0][:80]}"))
            self.transport.close()
            return False
        extension = headers.get("sec-websocket-extensions", "")
        if extension.startswith("permessage-deflate"):
            self._inflate = zlib.decompressobj(-15)
            self._reset = "server_no_context_takeover" in extension
        self._upgraded = True
        if not self.opened.done():  # (cancelled: the run ended during the handshake)
            self.opened.set_result(None)
        return True

    def _frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if opcode >= CLOSE:
            if opcode == PING:
                self._send(PONG, payload)
            elif opcode == CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                if not self._closing:  # the server's close: echo it
                    self._closing = True
                    self._send(CLOSE, payload[:2])
                self.transport.close()
            return
        if opcode:  # the first frame of a message
            self._kind, self._compressed, self._parts = opcode, bool(b0 & 0x40), []
        if not b0 & 0x80:  # more frames follow
            self._parts.append(payload)
            return
        if self._parts:
            payload = b"".join([*self._parts, payload])
            self._parts = []
        if self._compressed:
            if self._reset:
                self._inflate = zlib.decompressobj(-15)
            payload = self._inflate.decompress(payload + _TAIL)
        if self._kind == BINARY:
            self.on_binary(payload)
        else:
            self.on_text(payload.decode())

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport.is_closing():
            return
        mask = os.urandom(4)
        n = len(payload)
        head = (
            struct.pack("!BB", 0x80 | opcode, 0x80 | n)
            if n < 126
            else struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
        )
        self.transport.write(head + mask + apply_mask(payload, mask))

    def send_text(self, text: str) -> None:
        """A text message (small: under 64 KiB), sent uncompressed."""
        self._send(TEXT, text.encode())

    async def close(self, timeout: float = 3.0) -> None:
        """The closing handshake (code 1000), then the socket, within `timeout`."""
        if not self._closing and self.transport is not None and not self.transport.is_closing():
            self._closing = True
            self._send(CLOSE, struct.pack("!H", 1000))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.lost), timeout)
        if self.transport is not None:
            self.transport.close()


async def connect(
    url: str,
    on_binary: Callable[[bytes], None],
    on_text: Callable[[str], None],
    *,
    compression: bool = True,
    local_addr: tuple[str, int] | None = None,
) -> WsClient:
    """Open a websocket to `url` (ws:// only); returns once the server has accepted the upgrade."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or not parts.hostname:
        raise ValueError(f"only ws:// URLs: {url!r}")
    port = parts.port or 80
    key = base64.b64encode(os.urandom(16))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {parts.hostname}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
        *(["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"] if compression else []),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: WsClient(request, key, on_binary, on_text), parts.hostname, port, local_addr=local_addr
    )
    try:
        await client.opened
    except BaseException:
        client.transport.close()
        raise
    return client
