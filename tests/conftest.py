"""Shared fixtures: a scripted OpenAI-compatible server and a real uvicorn Mien server pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# Property tests draw the same examples on every run: a red CI is reproducible, never a fluke.
hypothesis_settings.register_profile("mien", derandomize=True, deadline=None)
hypothesis_settings.load_profile("mien")

from server.runner import LiveServer  # noqa: E402
from tests.fakes.openai_server import ScriptedOpenAI  # noqa: E402


@pytest.fixture
def fake_llm() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as server:
        yield server


@pytest.fixture
def mien(fake_llm: ScriptedOpenAI, tmp_path: Path) -> Iterator[LiveServer]:
    """Mien on a real uvicorn server, its model the scripted OpenAI-compatible server."""
    from server.app import create_app
    from tests.fakes.mien import mien_settings

    settings = mien_settings(fake_llm, tmp_path)
    with LiveServer(create_app(settings, warm_up=False)) as server:
        yield server
