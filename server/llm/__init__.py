"""Reaching models: the gateway (the only importer of litellm) and the embedded model it registers."""

from server.llm.failures import ProviderError, describe, side_failure
from server.llm.gateway import (
    ANNOTATOR_PROMPT,
    LOCAL_MODEL,
    Gateway,
    ModelOptions,
    load_litellm,
    rough_tokens,
)
from server.llm.slots import Busy, ModelSlots
from server.llm.speech import speech

__all__ = [
    "ANNOTATOR_PROMPT",
    "LOCAL_MODEL",
    "Busy",
    "Gateway",
    "ModelOptions",
    "ModelSlots",
    "ProviderError",
    "describe",
    "load_litellm",
    "rough_tokens",
    "side_failure",
    "speech",
]
