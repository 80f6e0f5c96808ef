"""create_app(settings) -> FastAPI: `/ws`, `/healthz`, the web client, the widget, `/embed` and the avatar."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware

from server import __version__, hearing, metrics, seeing
from server.assets import MODELS, REVALIDATE, CachedFiles, Widget, avatar_url, embed_page
from server.face import Animator
from server.limits import (
    CountersUnavailable,
    Gatekeeper,
    Limits,
    LocalCounters,
    Moderation,
    RedisCounters,
    load_keys,
    read_words,
)
from server.llm import Gateway
from server.personas import Persona, load_personas
from server.protocol import MoodInfo, PersonaInfo
from server.reply import Teacher, TeacherPlan
from server.reply.feelings import FEELINGS
from server.session import Relay, Services, Session, drain, post_message, serve_session
from server.settings import ConfigError, Settings
from server.store import open_store
from server.store.retention import purge, retention
from server.voice import Voices
from server.voice.speaker import spoken_cache

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
log = logging.getLogger("mien")


async def _warm_up(gateway: Gateway) -> None:
    """Load litellm, the classifier and the local model in threads after start-up (never blocks serving)."""
    try:
        await gateway.warm_up()
        await asyncio.to_thread(FEELINGS.load)
        # litellm, the classifier and the model are loaded for good: keep the collector from walking them
        # (a full collection of that heap paused every face ~240 ms).
        gc.freeze()
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


async def _check_redis(shared: RedisCounters, settings: Settings) -> None:
    """Say at start-up where the limits live, and loudly if that can't be reached (serving starts anyway:
    sessions get `unavailable`, or local limits, until it can)."""
    url = urlsplit(settings.redis_url or "")
    where = url._replace(netloc=url.netloc.rpartition("@")[2]).geturl()  # without the password
    try:
        await shared.ping()
        log.info("limits shared through Redis at %s", where)
    except CountersUnavailable as e:
        then = "counted per process" if settings.redis_outage == "local" else "refused (unavailable)"
        log.error("Redis at %s can't be reached (%s): sessions are %s until it can", where, e, then)


def _gauges(services: Services, sessions: dict[str, Session]) -> None:
    """This process's gauges and hot-path counts, into the metrics (server/metrics.py)."""
    slots = services.gateway.slots
    metrics.MODEL_RUNNING.set(slots.running)
    metrics.MODEL_WAITING.set(slots.waiting)
    metrics.QUEUED.set(sum(s.out.pending for s in sessions.values()))
    metrics.TALLY.flush()


async def _watch(services: Services, sessions: dict[str, Session]) -> None:
    """Every second: a scrape answered by another worker sees this one's figures (at most a second old)."""
    while True:
        await asyncio.sleep(1.0)
        _gauges(services, sessions)


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with Mien's own loggers (sessions, limits, relay, store) beside its own, at
    `level`: without this only their warnings would reach stderr."""
    from uvicorn.config import LOGGING_CONFIG

    mien = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return {**LOGGING_CONFIG, "loggers": {**LOGGING_CONFIG["loggers"], "mien": mien}}


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves Mien (`mien serve` and the tests' LiveServer alike)."""
    return {
        # Larger than this closes the socket; up to it gets a typed error. Room for a picture's file.
        "ws_max_size": max(1 << 20, settings.max_image_bytes + 1024),
        # permessage-deflate costs more than it saves here: frames are ~40-byte deltas, and compressing every
        # one took a fifth of a core at 500 sessions (README, Performance).
        "ws_per_message_deflate": settings.ws_compression,
        # After the drain (shutdown_grace), whatever still runs is cancelled: a stop never hangs.
        "timeout_graceful_shutdown": 5,
        # The proxies trusted to name the visitor (X-Forwarded-For), for per-visitor limits.
        **({"forwarded_allow_ips": settings.forwarded_allow_ips} if settings.forwarded_allow_ips else {}),
        **({"ssl_certfile": settings.tls_cert, "ssl_keyfile": settings.tls_key} if settings.tls_cert else {}),
    }


def tls_refusal(settings: Settings) -> str | None:
    """Why the TLS settings can't work, or None (no TLS, or both files there)."""
    files = {"tls_cert": settings.tls_cert, "tls_key": settings.tls_key}
    if not any(files.values()):
        return None
    if not all(files.values()):
        return "TLS needs both tls_cert and tls_key (--tls-cert, --tls-key)"
    missing = [f"{k} {v!r}" for k, v in files.items() if not Path(str(v)).is_file()]
    return f"no such file: {', '.join(missing)}" if missing else None


class MienServer(uvicorn.Server):
    """uvicorn, with a graceful stop: on SIGTERM (or should_exit) the app drains its sessions first (replies
    finish, clients are told to reconnect), then uvicorn closes what is left. A second signal forces."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        drain_app = getattr(getattr(self.config.app, "state", None), "drain", None)
        if drain_app is not None and not self.force_exit:
            try:
                await drain_app()
            except Exception:
                log.exception("draining sessions failed; closing them now")
        await super().shutdown(sockets)


def create_app(settings: Settings | None = None, *, warm_up: bool = True) -> FastAPI:
    """Fails fast (ConfigError naming file, field and reason) on bad personas or settings."""
    settings = settings or Settings.load()
    personas = load_personas()
    if settings.persona not in personas:
        raise ConfigError(f"persona {settings.persona!r} not found; known: {', '.join(personas)}")
    keys = load_keys(Path(settings.embed_keys)) if settings.embed_keys else {}
    for key in keys.values():
        for field, names in (("persona", [key.persona] if key.persona else []), ("personas", key.personas)):
            for name in (n for n in names or [] if n not in personas):
                raise ConfigError(f"{settings.embed_keys}: keys.{key.id}.{field}: unknown persona {name!r}")
    voices = Voices(settings.voice, settings.cloud_voice())
    gateway = Gateway(settings.model_options(), annotator=settings.emotion_model)
    animator = Animator(settings.fps)
    limits = Limits(
        settings.require_key,
        settings.max_connections,
        settings.connections_per_visitor,
        settings.messages_per_minute,
    )
    shared = RedisCounters(settings.redis_url) if settings.redis_url else None
    # While Redis is away: new sessions and messages refused (`unavailable`), or counted here meanwhile.
    fallback = LocalCounters() if shared is not None and settings.redis_outage == "local" else None
    gate = Gatekeeper(keys, limits, shared, fallback)
    store = open_store(settings.data_dir, settings.database_url)
    infos = {p.id: _persona_info(p, voices) for p in personas.values()}
    words = read_words(Path(settings.blocked_words)) if settings.blocked_words else []
    flag = partial(gateway.flagged, settings.moderation_model) if settings.moderation_model else None
    moderation = Moderation(words, flag)
    spoken = spoken_cache(round(settings.voice_cache_mb * 2**20))
    relay = Relay(settings.redis_url)
    teacher = TeacherPlan.of(settings)  # teacher + student: one teacher for every session, batching
    services = Services(
        settings, animator, personas, infos, store, gate, gateway, voices, moderation, spoken, relay,
        hearing.problem(settings.speech_input, settings.asr_model),
        Teacher(gateway, teacher) if teacher is not None else None,
        seeing.route(settings.generator, settings.vision_models, settings.vision_model),
    )  # fmt: skip
    widget = Widget(WEB / "dist")
    if not widget.path.is_file():
        log.warning("%s is not built (run `make`): /widget.js and /embed will not work", widget.path)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        animator.start()
        if shared is not None:
            await _check_redis(shared, settings)
            shared.start()
        await relay.start()
        warm = asyncio.create_task(_warm_up(gateway)) if warm_up else None
        await purge(store, settings.retention_days)  # before the first session: done when serving starts
        purging = asyncio.create_task(retention(store, settings.retention_days))
        watch = asyncio.create_task(_watch(services, app.state.sessions))
        yield
        watch.cancel()
        purging.cancel()
        if warm is not None:
            warm.cancel()
        await animator.stop()
        await relay.stop()
        if shared is not None:
            await shared.stop()
        await store.close()
        await gateway.aclose()

    docs = {} if settings.api_docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="Mien", version=__version__, lifespan=lifespan, **docs)
    # The client's files, modules and the avatar load from other sites' pages (embedding); they are
    # public, so any origin may read them. The websocket checks origins itself (embed keys).
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"], allow_headers=["*"])
    # Only the Host names this server is: a page on another name resolving here (DNS rebinding) is not
    # Mien's own page, whatever its Origin says.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.hosts)
    if settings.host in ("0.0.0.0", "::") and not settings.allowed_hosts:
        log.warning(
            "serving on %s: set allowed_hosts to the names clients use (only loopback answers)", settings.host
        )
    sessions = cast(dict[str, Session], relay.held)  # open now, by id
    app.state.settings = settings
    app.state.services = services
    app.state.sessions = sessions

    async def drain_sessions() -> None:  # called by MienServer before uvicorn closes the sockets
        await drain(sessions, gate, settings.shutdown_grace)

    app.state.drain = drain_sessions

    readers = [ipaddress.ip_network(n, strict=False) for n in settings.metrics_from]

    @app.get("/metrics")
    async def metrics_page(request: Request) -> Response:
        """Prometheus text, every worker's (server/metrics.py); only for `metrics_from` addresses."""
        try:
            client = ipaddress.ip_address(request.client.host if request.client else "")
        except ValueError:
            client = None
        if client is None or not any(client in n for n in readers):
            return Response(status_code=404)
        _gauges(services, sessions)
        body, kind = metrics.exposition()
        return Response(body, media_type=kind)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        # While draining (SIGTERM), 503: a balancer's health check sends new visitors elsewhere at once.
        status, code = ("draining", 503) if gate.closing else ("ok", 200)
        return JSONResponse({"status": status, "version": __version__, "model": settings.generator}, code)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await serve_session(websocket, services)

    @app.post("/sessions/{session_id}/messages", include_in_schema=False)
    async def session_message(session_id: str, request: Request) -> Response:
        """One message for an open session, wherever its socket is (server/session/remote.py)."""
        return await post_message(request, session_id, relay)

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
