"""Shared fixtures: a scripted OpenAI-compatible server and a real uvicorn Mien server pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from server.runner import LiveServer
from tests.fakes.openai_server import ScriptedOpenAI


@pytest.fixture
def fake_llm() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as server:
        yield server


@pytest.fixture
def mien(fake_llm: ScriptedOpenAI, tmp_path: Path) -> Iterator[LiveServer]:
    """Mien on a real uvicorn server, its model the scripted OpenAI-compatible server."""
    from server.app import create_app
    from server.settings import Settings

    settings = Settings(
        model="fake-model", api_base=fake_llm.base_url, timeout=20.0, retries=0, data_dir=str(tmp_path)
    )
    with LiveServer(create_app(settings, warm_up=False)) as server:
        yield server
