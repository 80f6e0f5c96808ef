"""Static files with a cache policy, the one-script-tag widget (`/widget.js`) and the `/embed` iframe page.

Caching: every file is revalidated on each use (`Cache-Control: no-cache`; the ETag answers 304 when it did
not change), except when its URL carries the file's content hash (`?v=HASH`, see `content_hash`): that URL
can never name other bytes, so it is cached for a year without asking (`immutable`).
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from pathlib import Path
from urllib.parse import parse_qs

import anyio
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from server.limits import Gatekeeper

REVALIDATE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
HASH_CHARS = 16  # hex digits of sha256 in `?v=`: 64 bits, no collision between versions of one file


@functools.lru_cache(maxsize=64)
def _hash(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:HASH_CHARS]


def content_hash(path: Path) -> str:
    """The file's content hash for `?v=` (cached per modification time and size; blocking on a new file)."""
    stat = path.stat()
    return _hash(str(path), stat.st_mtime_ns, stat.st_size)


MODELS = Path(__file__).resolve().parent.parent / "models"


def avatar_url(name: str) -> str:
    """`models/NAME?v=HASH`, the URL of one version of an avatar (immutable), or plain if it is elsewhere."""
    path = MODELS / name
    return f"models/{name}?v={content_hash(path)}" if path.is_file() else f"models/{name}"


def _version(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v")
    return values[0] if values else None


async def apply_cache_policy(response: Response, scope: Scope, path: Path) -> Response:
    """`immutable` when `?v=` is this file's content hash; else revalidate each time (an old hash too)."""
    version = _version(scope)
    pinned = version is not None and version == await anyio.to_thread.run_sync(content_hash, path)
    response.headers["cache-control"] = IMMUTABLE if pinned else REVALIDATE
    return response


class CachedFiles(StaticFiles):
    """Starlette's StaticFiles (ETag, Last-Modified, 304, ranges) with the cache policy above, serving only
    the files whose path (relative to the directory) `public` matches: a folder of the repository holds
    more than the browser needs (personas' system prompts beside the avatars, the npm tree beside the
    client), and none of that may leave the server."""

    def __init__(self, *, directory: Path, public: str = r".*") -> None:
        super().__init__(directory=directory)
        self._public = re.compile(public)

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not self._public.fullmatch(path.replace("\\", "/")):
            return PlainTextResponse("Not Found", 404)
        response = await super().get_response(path, scope)
        if path.endswith(".html"):  # a page of this server: framed by itself only (embedding uses /embed)
            response.headers["content-security-policy"] = "frame-ancestors 'self'"
        if response.status_code in (200, 206, 304):
            full_path, _ = await anyio.to_thread.run_sync(self.lookup_path, path)
            await apply_cache_policy(response, scope, Path(full_path))
        return response


class Widget:
    """`web/dist/widget.js` (built by `make`); its gzipped twin `widget.js.gz` for clients that take it."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist
        self.path = dist / "widget.js"
        self._files = StaticFiles(directory=dist, check_dir=False)  # the policy is applied once, below

    def url(self) -> str:
        """`/widget.js?v=HASH`, cached for good (the embed page's script); the plain name if not built."""
        return f"/widget.js?v={content_hash(self.path)}" if self.path.is_file() else "/widget.js"

    async def respond(self, request: Request) -> Response:
        if not self.path.is_file():
            return PlainTextResponse("widget.js is not built: run `make` (web/dist/widget.js)", 404)
        gz = self.dist / "widget.js.gz"
        zipped = _accepts_gzip(request) and gz.is_file() and gz.stat().st_mtime >= self.path.stat().st_mtime
        response = await self._files.get_response(gz.name if zipped else self.path.name, request.scope)
        response.headers["vary"] = "Accept-Encoding"
        if zipped and response.status_code != 304:
            response.headers["content-encoding"] = "gzip"
            response.headers["content-type"] = "text/javascript; charset=utf-8"
        # The pin is the plain file's hash, whichever encoding goes out.
        return await apply_cache_policy(response, request.scope, self.path)


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip" and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


# /embed: its query parameters (the element's attributes) and what each may hold. Keys and persona ids are
# checked by the session (a typed refusal shown in the frame) and the UI switches by the element; here only
# their shape, so a broken link fails plainly.
_ID = r"[^\x00-\x1f\x7f]{1,128}"
_WORD = r"[a-z]{0,16}"
EMBED_PARAMS = {
    "key": _ID,
    "persona": _ID,
    "resume": r"local|session|off",
    **{switch: _WORD for switch in ("chat", "controls", "voice", "theme", "mic", "models")},
}

EMBED_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Mien</title>
<link rel="icon" href="data:,">
<style>html, body {{ margin: 0; height: 100%; background: transparent; overflow: hidden; }}
mien-avatar {{ position: absolute; inset: 0; aspect-ratio: auto; min-height: 0; }}</style>
<script type="module" src="{script}"></script>
</head>
<body>
<mien-avatar{attributes}></mien-avatar>
</body>
</html>
"""


def embed_csp(request: Request, frame_ancestors: str) -> str:
    """The embed page's policy: its own scripts only, no inline script, sockets back to this server."""
    ws = ("wss://" if request.url.scheme == "https" else "ws://") + request.url.netloc
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            # 'self' covers ws(s) to this host in CSP3 browsers; the explicit URL serves older ones. blob: and
            # data: are three.js's GLTFLoader reading textures embedded in a GLB (ImageBitmapLoader fetches).
            f"connect-src 'self' {ws} blob: data:",
            "img-src 'self' blob: data:",
            # The element's shadow DOM carries its styles in a <style> (and this page one): inline styles.
            "style-src 'self' 'unsafe-inline'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


def embed_page(request: Request, gate: Gatekeeper, widget: Widget) -> Response:
    """`/embed?key=KEY&persona=ID&…` (EMBED_PARAMS): the element alone, filling the frame.

    Framing (`frame-ancestors`) follows the key: its origins (and this server); no key: this server only.
    An unknown key may be framed anywhere: its session is refused, and the element shows why.
    """
    params: dict[str, str] = {}
    for name, value in request.query_params.items():
        pattern = EMBED_PARAMS.get(name)
        if pattern is None:
            continue  # tracking parameters and the like: ignored, never echoed
        if not re.fullmatch(pattern, value):
            return PlainTextResponse(f"/embed: bad {name} {value[:80]!r} (expected {pattern})", 400)
        params[name] = value
    key = gate.keys.get(params["key"]) if "key" in params else None
    if "key" not in params:
        ancestors = "'self'"
    elif key is None:
        ancestors = "*"
    else:
        ancestors = " ".join(["'self'", *key.origins])
    attributes = "".join(f' {name}="{html.escape(value)}"' for name, value in params.items())
    body = EMBED_PAGE.format(script=html.escape(widget.url()), attributes=attributes)
    headers = {
        "content-security-policy": embed_csp(request, ancestors),
        "cache-control": REVALIDATE,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    }
    return HTMLResponse(body, headers=headers)
