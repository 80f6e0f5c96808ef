"""Mien's server: websocket sessions pairing an LLM (through litellm) with the animation model."""

__version__ = "0.1.0"
