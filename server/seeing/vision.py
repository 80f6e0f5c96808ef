"""Which model sees the pictures. The chat model itself when it can (the `vision_models` setting decides;
only when it is unset does litellm's model table); else `vision_model`, which describes the picture in words
that the chat model answers from; else no model sees, and a picture gets a typed error. A picture goes only
to the model configured for it, never anywhere else."""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.llm import Gateway
from server.seeing.images import Picture

DESCRIBE_PROMPT = (
    "Describe this picture for someone who cannot see it, in two to four plain sentences: what it shows, "
    "the people's expressions if any, any text in it, and its mood. Describe only; do not answer the user."
)
DESCRIBED_AS = "[The user shows a picture. It shows: {description}]"


@dataclass(frozen=True)
class VisionRoute:
    """`direct`: the chat model sees the picture; else `model` describes it for the chat model."""

    direct: bool
    model: str


def sees(model: str, vision_models: tuple[str, ...]) -> bool:
    """`vision_models` decides; unset, litellm's model table (read from its file: importing litellm takes
    seconds, and hello must not wait for it). A model the table does not know does not see."""
    if vision_models:
        return model in vision_models
    table = _litellm_models()
    entry = table.get(model) or table.get(model.split("/", 1)[-1]) or {}
    return bool(entry.get("supports_vision"))


@functools.cache
def _litellm_models() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return {}
    path = Path(spec.origin).parent / "model_prices_and_context_window_backup.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def route(chat_model: str, vision_models: tuple[str, ...], vision_model: str | None) -> VisionRoute | str:
    """How pictures reach a reply, or why they cannot (a sentence for the user)."""
    if sees(chat_model, vision_models):
        return VisionRoute(True, chat_model)
    if vision_model:
        return VisionRoute(False, vision_model)
    return f"the model ({chat_model}) cannot see pictures and no vision_model is configured"


def with_picture(messages: list[dict[str, Any]], picture: Picture) -> list[dict[str, Any]]:
    """The conversation with the picture attached to its last (the user's) message, in litellm's format."""
    *before, last = messages
    parts = [
        {"type": "text", "text": last["content"]},
        {"type": "image_url", "image_url": {"url": picture.data_url()}},
    ]
    return [*before, {"role": last["role"], "content": parts}]


def text_of(content: str | list[dict[str, Any]]) -> str:
    """A message's words, whether plain or in parts (the picture itself left out: for models reading about
    the conversation, such as an evaluator or a teacher, which are not configured to see it)."""
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


async def describe(gateway: Gateway, model: str, picture: Picture, timeout: float) -> str:
    """The picture in words, by `model` (ProviderError or TimeoutError when it cannot)."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": DESCRIBE_PROMPT},
        {"role": "user", "content": "Describe the picture."},
    ]
    text = await gateway.complete(
        with_picture(messages, picture), model=model, max_tokens=200, timeout=timeout
    )
    return " ".join(text.split())[:1200]
