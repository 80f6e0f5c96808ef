"""Embed keys: who may open a session from another site, and the limits that protect the site owner's
provider bill. Keys are public (they sit in the host page) and bound to origins; the server checks the
websocket's `Origin` against the key's allowlist.

Keys live in a TOML file (`embed_keys` setting / `MIEN_EMBED_KEYS`):

    [keys.demo]
    origins = ["https://example.com", "http://localhost:3000"]
    messages_per_minute = 10     # per visitor (the client's address; IPv6: its /64), a sliding minute
    concurrent_sessions = 50     # open sessions under this key
    sessions_per_visitor = 3     # open sessions under this key from one visitor
    tokens_per_day = 200000      # prompt + reply tokens under this key, per UTC day
    visitor_tokens_per_day = 20000  # the same, for one visitor
    allow_speech_input = false   # may its visitors talk instead of type (their audio costs CPU)?
    listen_seconds_per_day = 36000  # microphone audio under this key, per UTC day (seconds)
    visitor_listen_seconds_per_day = 3600  # the same, for one visitor
    persona = "guide"            # optional default persona for this key
    personas = ["guide", "mien"] # what visitors may pick (default: `persona` alone if set, else all)
    allow_speak = false          # may its pages send `speak` (lines the avatar says as written)?
    allow_prompt_edit = false    # may its visitors see and edit the system prompt and evaluator criteria?
    blocked_words = ["casino"]   # messages containing these are refused (`moderated`) before the model

Without a key, only Mien's own pages (same origin) and non-browser clients (no Origin header) connect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from server.settings import ConfigError, read_toml


def _origin(value: str) -> str:
    """`scheme://host[:port]` exactly as a browser's Origin header has it: anything else (a trailing slash,
    a path, capitals) would never match, and the embed page puts these in its CSP (`frame-ancestors`)."""
    parts = urlsplit(value)
    exact = parts.netloc and value == f"{parts.scheme}://{parts.netloc}"
    if parts.scheme not in ("http", "https") or not exact:
        raise ValueError(f"{value!r} is not an origin like https://shop.example (no path, no trailing slash)")
    if value != value.lower() or "@" in value or any(c in value for c in " ;,'\"\\"):
        raise ValueError(f"{value!r}: an origin is lower-case, with no user, spaces or quotes")
    return value


def _controls(values: dict[str, float]) -> dict[str, float]:
    """Face controls by name (hello's `controls`), each within its range: the site's starting face."""
    from animation.controls import lookup

    return {lookup(name).name: lookup(name).check(value) for name, value in values.items()}


class EmbedKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    origins: Annotated[list[Annotated[str, AfterValidator(_origin)]], Field(min_length=1)]
    messages_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 10
    concurrent_sessions: Annotated[int, Field(ge=1, le=100_000)] = 50
    sessions_per_visitor: Annotated[int, Field(ge=1, le=100_000)] = 3
    tokens_per_day: Annotated[int, Field(ge=1)] = 200_000
    visitor_tokens_per_day: Annotated[int, Field(ge=1)] = 20_000
    persona: str | None = None
    personas: list[str] | None = None  # None: `persona` alone if set, else every persona
    allow_speak: bool = False
    allow_prompt_edit: bool = False  # the Models panel: the persona's prompt and criteria shown and editable
    allow_speech_input: bool = False  # the site's visitors may talk to the avatar (their audio costs CPU)
    listen_seconds_per_day: Annotated[int, Field(ge=1)] = 36_000
    visitor_listen_seconds_per_day: Annotated[int, Field(ge=1)] = 3_600
    blocked_words: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    # The face this site starts with (over the persona's), e.g. {expressiveness = 0.8, contrast = 1.2}.
    controls: Annotated[dict[str, float], AfterValidator(_controls)] = Field(default_factory=dict)


def allowed_personas(key: EmbedKey | None, known: list[str]) -> list[str]:
    """The persona ids a session under `key` may use (its default first), of the `known` ones."""
    if key is None:
        return known
    if key.personas is not None:
        ids = [key.persona] if key.persona else []
        return [*ids, *(p for p in key.personas if p not in ids)]
    return [key.persona] if key.persona else known


def load_keys(path: Path) -> dict[str, EmbedKey]:
    data = read_toml(path)
    keys: dict[str, EmbedKey] = {}
    for key_id, body in (data.get("keys") or {}).items():
        try:
            keys[key_id] = EmbedKey(id=key_id, **body)
        except (ValidationError, TypeError) as e:
            detail = (
                e.errors(include_url=False)[0]
                if isinstance(e, ValidationError)
                else {"loc": (), "msg": str(e)}
            )
            field = ".".join(str(p) for p in detail["loc"]) or "(key)"
            raise ConfigError(f"{path}: keys.{key_id}.{field}: {detail['msg']}") from None
    return keys
