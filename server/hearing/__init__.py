"""Hearing: the user's microphone audio -> voice activity (vad.py) -> turns (turns.py, judged by endpoint.py)
-> words (asr.py). `ear.py` runs one microphone through them; the session (server/session/microphone.py)
turns what it hears into the user's messages."""

from __future__ import annotations

from server.hearing import asr


def problem(enabled: bool, model: str) -> str | None:
    """Why speech input can't work on this server (off, or its model missing), or None. Cheap: nothing
    is loaded (the model loads when a first microphone opens)."""
    if not enabled:
        return "speech input is turned off on this server"
    try:
        asr.model_dir(model)
    except asr.AsrUnavailable as e:
        return str(e)
    return None
