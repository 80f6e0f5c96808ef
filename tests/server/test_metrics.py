"""/metrics: Prometheus text that moves with what happens (sessions, frames, replies, refusals, first-text
latency), readable only from the configured addresses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.runner import LiveServer
from server.settings import ConfigError, Settings
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI


def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, labels) -> value (a fresh connection each time)."""
    response = httpx.get(f"{base_url}/metrics", headers={"Connection": "close"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_metrics_follow_sessions_frames_replies_and_refusals(mien: LiveServer) -> None:
    base = f"http://127.0.0.1:{mien.port}"
    before = scrape(base)

    def delta(after: dict, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    async def main() -> None:
        async with Client(mien.ws_url) as c:
            await c.send({"type": "speak", "text": "[joy] Hello there, everyone!"})
            await c.next_message("reply_end")
            await c.wait_for(lambda cl: len(cl.frames) >= 10, "frames")
            frames_seen = len(c.frames)
            async with Client(mien.ws_url + "?key=nope") as refused:
                assert (await refused.next_message("error"))["code"] == "unknown_key"
            after = await asyncio.to_thread(scrape, base)
            assert delta(after, "mien_sessions") == 1
            assert delta(after, "mien_sessions_admitted_total") == 1
            assert delta(after, "mien_sessions_refused_total", code="unknown_key") == 1
            assert delta(after, "mien_replies_total", status="complete") == 1
            assert delta(after, "mien_reply_first_text_seconds_count") == 1
            assert delta(after, "mien_frames_sent_total") >= frames_seen  # the client has read these
            assert ("mien_model_waiting", ()) in after and ("mien_outbound_queued", ()) in after

    asyncio.run(main())


def test_metrics_are_only_for_the_configured_addresses(fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    settings = mien_settings(fake_llm, tmp_path, metrics_from=("10.0.0.0/8",))
    with LiveServer(create_app(settings, warm_up=False)) as server:
        assert httpx.get(f"http://127.0.0.1:{server.port}/metrics").status_code == 404
    with pytest.raises(ConfigError, match="metrics_from"):
        Settings().with_values({"metrics_from": ["not-an-address"]}, source="test")
