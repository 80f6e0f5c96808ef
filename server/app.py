"""create_app(settings) -> FastAPI: `/ws`, `/healthz`, the web client, the widget, `/embed` and the avatar."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse

from server import __version__, llm
from server.animator import Animator
from server.assets import MODELS, REVALIDATE, CachedFiles, Widget, avatar_url, embed_page
from server.embed import Gatekeeper, load_keys
from server.feelings import FEELINGS
from server.memory import MemoryStore
from server.personas import load_personas
from server.session import Shared, serve_session
from server.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
log = logging.getLogger("mien")


async def _warm_up(settings: Settings) -> None:
    """Load litellm, the classifier and the local model in threads after start-up (never blocks serving)."""
    try:
        await llm.warm_up()
        await asyncio.to_thread(FEELINGS.load)
        if settings.is_local:
            from server.local_model import register

            await asyncio.to_thread(register()._model)
    except Exception:  # the first reply will report the problem as a typed error
        log.exception("warm-up failed")


def create_app(settings: Settings | None = None, *, warm_up: bool = True) -> FastAPI:
    """Fails fast (ConfigError naming file, field and reason) on bad personas or settings."""
    settings = settings or Settings.load()
    personas = load_personas()
    if settings.persona not in personas:
        raise ConfigError(f"persona {settings.persona!r} not found; known: {', '.join(personas)}")
    for persona in personas.values():
        avatar_url(persona.avatar)  # hash each avatar now, not on a session's first hello
    store = MemoryStore(Path(settings.data_dir) / "conversations.sqlite3" if settings.data_dir else None)
    keys = load_keys(Path(settings.embed_keys)) if settings.embed_keys else {}
    for key in keys.values():
        if key.persona is not None and key.persona not in personas:
            raise ConfigError(
                f"{settings.embed_keys}: keys.{key.id}.persona: unknown persona {key.persona!r}"
            )
    animator = Animator(settings.fps)
    gate = Gatekeeper(keys)
    shared = Shared(settings, animator, personas, store, gate)
    widget = Widget(WEB / "dist")
    if not widget.path.is_file():
        log.warning("%s is not built (run `make`): /widget.js and /embed will not work", widget.path)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        animator.start()
        warm = asyncio.create_task(_warm_up(settings)) if warm_up else None
        yield
        if warm is not None:
            warm.cancel()
        await animator.stop()
        store.close()

    app = FastAPI(title="Mien", version=__version__, lifespan=lifespan)
    # The client's files, modules and the avatar load from other sites' pages (embedding); they are
    # public, so any origin may read them. The websocket checks origins itself (embed keys).
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"], allow_headers=["*"])
    app.state.settings = settings
    app.state.animator = animator

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "model": settings.model})

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await serve_session(websocket, shared)

    @app.api_route("/widget.js", methods=["GET", "HEAD"], include_in_schema=False)
    async def widget_js(request: Request) -> Response:
        return await widget.respond(request)

    @app.api_route("/embed", methods=["GET", "HEAD"], include_in_schema=False)
    def embed(request: Request) -> Response:
        return embed_page(request, gate, widget)

    if (WEB / "index.html").is_file():

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            # Mien's own page may be framed only by itself (embedding sites use /embed or the widget).
            headers = {"cache-control": REVALIDATE, "content-security-policy": "frame-ancestors 'self'"}
            return FileResponse(WEB / "index.html", headers=headers)

        # The client's own files only (its modules, styles and page), not web/node_modules or the bundle.
        app.mount("/web", CachedFiles(directory=WEB, public=r"[\w.-]+\.(?:js|css|html)"), name="web")
    if (WEB / "node_modules" / "three").is_dir():
        app.mount("/vendor/three", CachedFiles(directory=WEB / "node_modules" / "three"), name="three")
    # Avatars, their calibration and their licence; never models/personas/ (system prompts stay here).
    public_models = r"[\w.-]+\.glb|[\w.-]+\.calibration\.json|LICENSE|CREDITS\.md"
    app.mount("/models", CachedFiles(directory=MODELS, public=public_models), name="models")
    return app
