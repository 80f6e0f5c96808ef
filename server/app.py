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

from server import __version__
from server.assets import MODELS, REVALIDATE, CachedFiles, Widget, avatar_url, embed_page
from server.face import Animator
from server.limits import Gatekeeper, load_keys
from server.llm import Gateway
from server.personas import Persona, load_personas
from server.protocol import MoodInfo, PersonaInfo
from server.reply.feelings import FEELINGS
from server.session import Services, Session, serve_session
from server.settings import ConfigError, Settings
from server.store import open_store
from server.voice import Voices

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
log = logging.getLogger("mien")


async def _warm_up(gateway: Gateway) -> None:
    """Load litellm, the classifier and the local model in threads after start-up (never blocks serving)."""
    try:
        await gateway.warm_up()
        await asyncio.to_thread(FEELINGS.load)
    except Exception:  # the first reply will report the problem as a typed error
        log.exception("warm-up failed")


def _persona_info(persona: Persona, voices: Voices) -> PersonaInfo:
    """How hello shows a persona: its avatar's content-hashed URL (hashed now, not on a first hello)."""
    return PersonaInfo(
        id=persona.id,
        name=persona.name,
        greeting=persona.greeting,
        avatar=persona.avatar,
        avatar_url=avatar_url(persona.avatar),
        mood=MoodInfo(emotion=persona.mood.emotion, intensity=persona.mood.intensity),
        voice=str(voices.resolve(persona.voice)),
    )


def create_app(settings: Settings | None = None, *, warm_up: bool = True) -> FastAPI:
    """Fails fast (ConfigError naming file, field and reason) on bad personas or settings."""
    settings = settings or Settings.load()
    personas = load_personas()
    if settings.persona not in personas:
        raise ConfigError(f"persona {settings.persona!r} not found; known: {', '.join(personas)}")
    keys = load_keys(Path(settings.embed_keys)) if settings.embed_keys else {}
    for key in keys.values():
        if key.persona is not None and key.persona not in personas:
            raise ConfigError(
                f"{settings.embed_keys}: keys.{key.id}.persona: unknown persona {key.persona!r}"
            )
    voices = Voices(settings.voice, settings.cloud_voice())
    gateway = Gateway(settings.model_options(), annotator=settings.emotion_model)
    animator = Animator(settings.fps)
    gate = Gatekeeper(keys)
    store = open_store(settings.data_dir)
    infos = {p.id: _persona_info(p, voices) for p in personas.values()}
    services = Services(settings, animator, personas, infos, store, gate, gateway, voices)
    widget = Widget(WEB / "dist")
    if not widget.path.is_file():
        log.warning("%s is not built (run `make`): /widget.js and /embed will not work", widget.path)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        animator.start()
        warm = asyncio.create_task(_warm_up(gateway)) if warm_up else None
        yield
        if warm is not None:
            warm.cancel()
        await animator.stop()
        await store.close()

    app = FastAPI(title="Mien", version=__version__, lifespan=lifespan)
    # The client's files, modules and the avatar load from other sites' pages (embedding); they are
    # public, so any origin may read them. The websocket checks origins itself (embed keys).
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"], allow_headers=["*"])
    sessions: dict[str, Session] = {}  # open now, by id
    app.state.settings = settings
    app.state.services = services
    app.state.sessions = sessions

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "model": settings.model})

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await serve_session(websocket, services, sessions)

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
