"""Configuration, in layers: defaults < TOML file < environment < CLI flags.

The TOML file is `$MIEN_CONFIG`, else `./mien.toml` when present. Keys mirror the fields below, e.g.

    model = "gpt-4o-mini"
    fallbacks = ["ollama/llama3.2", "mien-local/smollm2-135m-instruct"]
    temperature = 0.6
    max_tokens = 300
    timeout = 30
    retries = 1

An invalid file or value stops start-up with the file, the key and the reason.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from server.llm import LOCAL_MODEL, ModelOptions
from server.voice import CloudEndpoint, check, parse_voice


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names where and why."""


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's contents, or a ConfigError naming the file and what is wrong with it."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return data


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # Any litellm model string; the default is the embedded SmolLM2 run in-process.
    model: str = LOCAL_MODEL
    # Tried in order when the model fails before its reply starts.
    fallbacks: tuple[str, ...] = ()
    api_base: str | None = None
    # An optional litellm model that tags plain replies for models that ignore the tag format.
    emotion_model: str | None = None
    api_key: str | None = None
    temperature: float = 0.7
    max_tokens: int = 192
    timeout: float = 60.0
    retries: int = 1  # extra attempts per model on 429/5xx/connection errors before the reply starts
    model_concurrency: int = 32  # replies using a remote model at once (the embedded one: one at a time)
    model_queue: int = 16  # replies waiting for the model beyond those; one more gets a `busy` error
    model_rpm: int = 0  # the provider's requests a minute for `model` (0: none; llm/quota.py); over: `busy`
    model_tpm: int = 0  # ... and tokens a minute; counted in Redis with redis_url, shared by every process
    fps: float = 30.0
    persona: str = "mien"  # the default persona (models/personas/<id>.toml); clients may pick another
    # Conversations are stored here (SQLite); None keeps them in memory only.
    data_dir: str | None = str(Path.home() / ".local" / "share" / "mien")
    retention_days: float = 30.0  # conversations idle longer are deleted; 0 keeps them forever
    record_dir: str | None = None  # when set, each session's frame track is written here
    embed_keys: str | None = None  # a TOML file of embed keys (server/limits/) for other sites
    # The voice replies are spoken with (a spec, server/voice/specs.py): personas with voice = "default" use
    # it. A cloud voice (litellm:MODEL:VOICE) talks to voice_api_base / voice_api_key, else the LLM's.
    voice: str = "auto"
    voice_api_base: str | None = None
    voice_api_key: str | None = None
    voice_timeout: float = 15.0  # s per sentence before a cloud voice counts as failed
    # Spoken sentences kept for reuse (server/voice/cache.py): a line many sessions say is made once.
    voice_cache_mb: float = 64.0
    ws_compression: bool = False  # permessage-deflate on websockets (costs CPU per frame, saves little)
    # Bounded outbound queue per connection (JSON messages; frames are latest-wins on top of it).
    outbound_limit: int = 1024
    outbound_bytes: int = 4 << 20  # ... and at most this many bytes of them (a client that doesn't read)
    client_messages_per_second: int = 200  # any client message; past it the session reads more slowly
    exports_per_minute: int = 10  # export_history answers per session per minute
    # Who may connect and how much (server/limits/; docs/security.md). A visitor is an address (IPv6: /64).
    require_key: bool = False  # refuse sessions without an embed key (Mien's own page needs one then too)
    max_connections: int = 1000  # open sessions on this server
    connections_per_visitor: int = 20  # open sessions from one visitor, keys or not
    messages_per_minute: int = 30  # per visitor, in sessions without an embed key (keys set their own)
    # Host headers answered (DNS rebinding): loopback names, the `host` served on, and these.
    allowed_hosts: tuple[str, ...] = ()
    # Proxies whose X-Forwarded-For names the visitor (uvicorn's forwarded_allow_ips), e.g. "127.0.0.1".
    forwarded_allow_ips: str | None = None
    error_details: bool = False  # providers' error texts to clients (development); always in the log
    api_docs: bool = False  # serve /docs and /openapi.json
    idle_timeout: float = 1800.0  # s without a message before a session is closed (a reply counts as use)
    hidden_idle_timeout: float = 300.0  # ... while its page is hidden
    shutdown_grace: float = 20.0  # s a stopping server lets replies finish before clients must reconnect
    # The moderation gate (server/limits/moderation.py): a litellm moderation model and a word list file.
    moderation_model: str | None = None
    blocked_words: str | None = None  # a text file, one word or phrase per line
    max_turns: int = 200  # turns a session keeps for the model (older ones stay in the store)
    # Several processes (server/limits/shared.py, docs/scaling.md): their limits shared through Redis.
    workers: int = 1  # server processes on this machine, sharing its port
    redis_url: str | None = None  # redis://host:port/db: every limit counted there, across processes
    redis_outage: str = "refuse"  # while Redis can't be reached: refuse (`unavailable`) or count locally
    local_limits: bool = False  # several workers without Redis: each counts its own (limits x workers)
    # Conversations in PostgreSQL, shared by every process and machine (server/store/postgres.py).
    database_url: str | None = None  # postgresql://user:password@host:port/db; None: SQLite in data_dir
    # Speech input (server/hearing/, docs/protocol.md "Speech input"): users may talk instead of type.
    speech_input: bool = True
    asr_model: str = "tiny.en"  # Whisper for faster-whisper: a name in server/hearing/asr.py or a model dir
    listen_seconds: float = 3600.0  # microphone audio one session may send; past it: `rate_limited`
    # HTTPS and WSS (a microphone needs a secure context off localhost: phones on the LAN; docs/deploy.md).
    tls_cert: str | None = None  # a PEM certificate (chain) file; with tls_key, `mien serve` speaks TLS
    tls_key: str | None = None
    # A second model judging each reply (server/reply/judge.py): observe (score after), revise (hold, rewrite
    # one under the threshold once) or pick (best of N); any litellm model, the embedded one included.
    evaluator_model: str | None = None
    evaluator_mode: str = "observe"
    evaluator_threshold: float = 0.6  # a criterion scored under this fails (revise rewrites the reply)
    evaluator_candidates: int = 3  # pick: replies written per turn
    evaluator_timeout: float = 20.0  # s before a verdict counts as missing ("not evaluated"; never blocks)
    # Teacher + student (server/reply/teacher.py): a remote teacher writes each reply's plan and first words,
    # batched across sessions; the student (the embedded model unless set) continues and delivers the reply.
    teacher_model: str | None = None
    student_model: str | None = None
    teacher_window: float = 0.05  # s a guidance request waits for others to share one teacher call
    teacher_batch: int = 16  # conversations per teacher call at most
    teacher_timeout: float = 15.0  # s before the student answers alone
    # Pictures the user shows the avatar (server/seeing/): which models see them (unset: litellm's table
    # says), and a model that describes them for a chat model that cannot see.
    vision_models: tuple[str, ...] = ()
    vision_model: str | None = None
    max_image_bytes: int = 1_000_000  # a picture file at most (pages shrink bigger ones; 1024 px on arrival)
    # Who may read /metrics (addresses or networks); others get 404. Behind a proxy: see forwarded_allow_ips.
    metrics_from: tuple[str, ...] = ("127.0.0.1", "::1")

    @property
    def hosts(self) -> list[str]:
        """Every Host the server answers to."""
        own = [] if self.host in ("0.0.0.0", "::", "") else [self.host]
        return ["127.0.0.1", "localhost", "::1", "[::1]", *own, *self.allowed_hosts]

    @classmethod
    def load(cls, environ: dict[str, str] | None = None) -> Settings:
        """Defaults, then the TOML file, then environment variables."""
        env = os.environ if environ is None else environ
        settings = cls()
        path = env.get("MIEN_CONFIG") or ("mien.toml" if Path("mien.toml").is_file() else None)
        if path:
            settings = settings.with_file(Path(path))
        for name, key in _ENV.items():
            if env.get(name):
                settings = settings.with_values({key: env[name]}, source=f"environment variable {name}")
        return settings

    def with_file(self, path: Path) -> Settings:
        return self.with_values(read_toml(path), source=str(path))

    def with_values(self, values: dict[str, Any], source: str) -> Settings:
        """Typed, checked overrides; unknown keys and wrong types are errors naming the source."""
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in known:
                raise ConfigError(f"{source}: unknown setting {key!r}; known: {', '.join(sorted(known))}")
            changes[key] = _coerce(key, raw, getattr(self, key), source)
        return replace(self, **changes)

    def with_overrides(self, **kwargs: object) -> Settings:
        return self.with_values({k: v for k, v in kwargs.items() if v is not None}, source="command line")

    @property
    def generator(self) -> str:
        """The model that writes the replies: `model`, or with a teacher the student (the embedded one unless
        `student_model` names another)."""
        return (self.student_model or LOCAL_MODEL) if self.teacher_model else self.model

    def model_options(self) -> ModelOptions:
        """The model, its fallbacks and how to reach them (for the gateway), under the same names here."""
        options = {f.name: getattr(self, f.name) for f in fields(ModelOptions)}
        return ModelOptions(**{**options, "model": self.generator})

    def cloud_voice(self) -> CloudEndpoint:
        """Where cloud voices are asked: their own endpoint, else the LLM's."""
        return CloudEndpoint(
            self.voice_api_base or self.api_base, self.voice_api_key or self.api_key, self.voice_timeout
        )


# Every setting from MIEN_<NAME> (HOST and PORT as most servers name them).
_ENV = {"HOST": "host", "PORT": "port"} | {
    f"MIEN_{f.name.upper()}": f.name for f in fields(Settings) if f.name not in ("host", "port")
}
_STRINGS = frozenset(f.name for f in fields(Settings) if f.type in ("str", "str | None"))
_NETWORKS = frozenset({"metrics_from"})
_CHOICES: dict[str, tuple[str, ...]] = {
    "redis_outage": ("refuse", "local"),
    "evaluator_mode": ("observe", "revise", "pick"),
}
_SCHEMES: dict[str, tuple[str, ...]] = {"redis_url": ("redis://", "rediss://", "unix://")}
_SCHEMES["database_url"] = ("postgresql://", "postgres://")
_LIMITS: dict[str, tuple[float, float]] = {
    "port": (0, 65535),
    "temperature": (0.0, 2.0),
    "max_tokens": (1, 32768),
    "timeout": (0.1, 3600.0),
    "retries": (0, 10),
    "model_concurrency": (1, 100_000),
    "model_queue": (0, 100_000),
    "model_rpm": (0, 10_000_000),
    "model_tpm": (0, 10_000_000_000),
    "fps": (1.0, 120.0),
    "outbound_limit": (16, 1_000_000),
    "outbound_bytes": (65_536, 1 << 30),
    "exports_per_minute": (1, 10_000),
    "client_messages_per_second": (1, 100_000),
    "retention_days": (0.0, 36500.0),
    "voice_timeout": (0.1, 600.0),
    "voice_cache_mb": (0.0, 65536.0),
    "max_connections": (1, 1_000_000),
    "connections_per_visitor": (1, 1_000_000),
    "messages_per_minute": (1, 100_000),
    "max_turns": (2, 100_000),
    "idle_timeout": (0.1, 7 * 86400.0),
    "shutdown_grace": (0.0, 3600.0),
    "hidden_idle_timeout": (0.1, 7 * 86400.0),
    "workers": (1, 1024),
    "listen_seconds": (0.0, 10_000_000.0),
    "evaluator_threshold": (0.0, 1.0),
    "evaluator_candidates": (1, 8),
    "evaluator_timeout": (0.1, 600.0),
    "teacher_window": (0.0, 5.0),
    "teacher_batch": (1, 256),
    "teacher_timeout": (0.1, 600.0),
    "max_image_bytes": (1_000, 50_000_000),
}
_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off"})


def _coerce(key: str, raw: Any, current: Any, source: str) -> Any:
    def fail(reason: str) -> ConfigError:  # the value is echoed, never a URL's password
        shown = re.sub(r"//([^/@:]*):[^/]*@", r"//\1:***@", raw) if isinstance(raw, str) else raw
        return ConfigError(f"{source}: {key}: {reason} (got {shown!r})")

    if isinstance(current, tuple):  # a list; in the environment, comma-separated
        items = [s.strip() for s in raw.split(",")] if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(s, str) and s for s in items):
            raise fail("a list of names")
        if key in _NETWORKS:
            try:
                [ipaddress.ip_network(s, strict=False) for s in items]
            except ValueError as e:
                raise fail(f"addresses or networks ({e})") from None
        return tuple(items)
    if isinstance(current, bool):
        word = raw.strip().lower() if isinstance(raw, str) else None
        if isinstance(raw, bool) or word in _TRUE | _FALSE:
            return raw if isinstance(raw, bool) else word in _TRUE
        raise fail("true or false")
    if key in _STRINGS:
        if not isinstance(raw, str) or not raw:
            raise fail("a non-empty string")
        if key == "voice":
            try:
                spec = parse_voice(raw)
                check(spec)
            except ValueError as e:
                raise fail(str(e)) from None
            return "auto" if spec.engine == "default" else str(spec)
        if key in _CHOICES and raw not in _CHOICES[key]:
            raise fail(f"one of {', '.join(_CHOICES[key])}")
        if key in _SCHEMES and not raw.startswith(_SCHEMES[key]):
            raise fail(f"a URL starting with {' or '.join(_SCHEMES[key])}")
        return raw
    if isinstance(current, int | float):
        try:
            value = int(raw) if isinstance(current, int) else float(raw)
        except (TypeError, ValueError):
            raise fail("a number") from None
        lo, hi = _LIMITS.get(key, (float("-inf"), float("inf")))
        if not lo <= value <= hi:
            raise fail(f"must be between {lo:g} and {hi:g}")
        return value
    return raw
