"""Reaching models: the gateway (the only importer of litellm) and the embedded model it registers."""

from server.llm.gateway import (
    LOCAL_MODEL,
    Gateway,
    ModelOptions,
    ProviderError,
    describe,
    load_litellm,
    rough_tokens,
    speech,
)

__all__ = [
    "LOCAL_MODEL",
    "Gateway",
    "ModelOptions",
    "ProviderError",
    "describe",
    "load_litellm",
    "rough_tokens",
    "speech",
]
