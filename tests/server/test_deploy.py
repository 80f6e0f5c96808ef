"""The deployment in deploy/, live: three `mien serve` processes behind Debian's nginx running
deploy/nginx/mien.conf (TLS with a certificate made for the test), sharing a real Redis and one conversation
store. Visitors connect only through nginx, each from a loopback address of its own, so nginx's
X-Forwarded-For is what tells them apart.

What must hold: the websocket upgrade and the frame stream pass through, /healthz does and /metrics does
not (nginx refuses the public, Mien refuses readers outside metrics_from); an embed key's session cap and a
visitor's message rate hold across the processes; a stop for a session reaches the process holding its
socket, sent to any; a process stopped (SIGTERM) or killed outright (SIGKILL)
costs the visitor nothing but a reconnect: new connections skip it, and its conversation resumes on another
process with every turn."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
import yaml  # litellm's dependency
from prometheus_client.parser import text_string_to_metric_families

from server.settings import Settings
from tests.engines import RedisServer
from tests.engines.nginx import NginxServer
from tests.fakes.client import Client
from tests.fakes.openai_server import ScriptedOpenAI
from tests.fakes.process import MienProcess

KEYS = """
[keys.cap]
origins = ["https://shop.example"]
concurrent_sessions = 3
sessions_per_visitor = 10

[keys.rate]
origins = ["https://shop.example"]
messages_per_minute = 3
concurrent_sessions = 50
sessions_per_visitor = 10
"""
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MONITOR = "127.0.0.2"  # Prometheus: allowed by nginx (monitoring.conf) and by Mien (metrics_from)
NOT_IN_METRICS_FROM = "127.0.0.9"  # allowed by nginx, but not by Mien: its own check must refuse it


class Visitor(Client):
    """A browser's websocket through nginx: TLS trusting the test's certificate, from a loopback address of
    its own (nginx names it in X-Forwarded-For), with any headers it likes to send."""

    def __init__(
        self,
        nginx: NginxServer,
        query: str = "",
        address: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(nginx.ws_url + query)
        self._ssl = nginx.ssl_context()
        self._address = address
        self._headers = headers or {}

    async def __aenter__(self) -> Visitor:
        self._ws = await websockets.connect(
            self.url,
            max_size=1 << 22,
            ssl=self._ssl,
            local_addr=(self._address, 0),
            additional_headers=self._headers,
        )
        self._reader = asyncio.create_task(self._read())
        return self


@dataclass
class Deployment:
    llm: ScriptedOpenAI
    redis: RedisServer
    nginx: NginxServer
    processes: list[MienProcess]
    make: Any = field(repr=False)  # (port) -> a started MienProcess with the deployment's settings

    def sessions(self) -> list[int]:
        """Open sessions on each process (its own /metrics, scraped directly as Prometheus would); a killed
        process holds none."""
        return [
            int(_scrape(f"http://127.0.0.1:{p.port}")[("mien_sessions", ())]) if p.proc is not None else 0
            for p in self.processes
        ]

    def get(self, path: str, address: str = "127.0.0.1", https: bool = True) -> httpx.Response:
        """A request through nginx from `address`."""
        transport = httpx.HTTPTransport(local_address=address, verify=self.nginx.ssl_context())
        with httpx.Client(transport=transport) as client:
            return client.get((self.nginx.https_url if https else self.nginx.http_url) + path)


def _scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    transport = httpx.HTTPTransport(local_address=MONITOR)
    with httpx.Client(transport=transport) as client:
        response = client.get(f"{base}/metrics")
    assert response.status_code == 200, response.status_code
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Where every process keeps conversations, as `mien serve` settings: one store for all of them, and
    their only way to share conversations (each process has a data directory of its own otherwise). Here
    SQLite in one data directory, which processes on one machine may share; or MIEN_DATABASE_URL."""
    return {"MIEN_DATA_DIR": str(tmp_path_factory.mktemp("conversations"))}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, store: dict[str, str]) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("deploy")
    keys = tmp / "keys.toml"
    keys.write_text(KEYS)
    with ScriptedOpenAI() as llm, RedisServer() as redis:
        env = {
            "MIEN_REDIS_URL": redis.url,
            "MIEN_EMBED_KEYS": str(keys),
            "MIEN_FORWARDED_ALLOW_IPS": "127.0.0.1",  # nginx's address: its X-Forwarded-For is believed
            "MIEN_METRICS_FROM": MONITOR,
            **store,
        }

        own = (tmp / f"process-{n}" for n in itertools.count())

        def make(port: int | None = None) -> MienProcess:
            return MienProcess(llm, next(own), port=port, env=env).start()

        processes: list[MienProcess] = []
        try:
            processes += [make() for _ in range(3)]
            upstreams = [f"127.0.0.1:{p.port}" for p in processes]
            with NginxServer(upstreams, monitoring=[MONITOR, NOT_IN_METRICS_FROM], directory=tmp) as nginx:
                yield Deployment(llm, redis, nginx, processes, make)
        finally:
            for p in processes:
                p.kill()


@pytest.fixture
def deploy(deployment: Deployment) -> Iterator[Deployment]:
    """The module's deployment, left as found: every session closed, counts in Redis and scripts gone."""
    yield deployment
    deadline = time.monotonic() + 15
    while any(deployment.sessions()):  # each process ends its sessions when it sees their sockets close
        assert time.monotonic() < deadline, f"sessions still open: {deployment.sessions()}"
        time.sleep(0.05)
    deployment.redis.flush()  # message windows and dead processes' leases: the next test starts at zero
    deployment.llm.scripts.clear()


async def _first(c: Client) -> dict[str, Any]:
    return await c.wait_for(lambda cl: cl.messages and cl.messages[0], "the first message")


def test_websockets_health_and_metrics_through_nginx(deploy: Deployment) -> None:
    async def main() -> None:
        async with Visitor(deploy.nginx) as c:
            assert (await c.next_message("hello"))["resumed"] is False
            frames = await c.frames_after(15)  # binary frames stream through the upgrade, unbuffered
            seqs = [seq for seq, _, _ in frames]
            assert seqs == sorted(set(seqs))
            await c.send({"type": "user_message", "text": "Hello through the proxy."})
            end = await c.next_message("reply_end")
            assert end["status"] == "complete" and end["text"] == "Hello."

    asyncio.run(main())

    health = deploy.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    plain = deploy.get("/healthz?x=1", https=False)  # plain HTTP only sends browsers to HTTPS
    assert plain.status_code == 301 and plain.headers["location"] == "https://127.0.0.1/healthz?x=1"

    assert deploy.get("/metrics").status_code == 403  # the public: nginx refuses
    assert deploy.get("/metrics", address="127.0.0.3").status_code == 403
    # nginx lets this reader through, and Mien, seeing its address in X-Forwarded-For, refuses it.
    assert deploy.get("/metrics", address=NOT_IN_METRICS_FROM).status_code == 404
    monitored = deploy.get("/metrics", address=MONITOR)
    assert monitored.status_code == 200 and "mien_sessions_admitted_total" in monitored.text


def test_a_keys_session_cap_holds_across_the_processes(deploy: Deployment) -> None:
    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            # Five visitors under one key capped at 3 sessions, one after another through nginx.
            opened = [
                await stack.enter_async_context(Visitor(deploy.nginx, "?key=cap", f"127.0.0.{10 + i}"))
                for i in range(5)
            ]
            firsts = [await _first(c) for c in opened]
            assert [f["type"] for f in firsts] == ["hello", "hello", "hello", "error", "error"]
            assert {f["code"] for f in firsts[3:]} == {"too_many_sessions"}
            await asyncio.gather(*(c.closed.wait() for c in opened[3:]))
            assert {c.close_code for c in opened[3:]} == {1008}  # refused: the page must not retry
            held = await asyncio.to_thread(deploy.sessions)
            assert sum(held) == 3 and sum(n > 0 for n in held) >= 2, held  # spread: no cap per process

    asyncio.run(main())


def test_a_visitors_message_rate_holds_across_the_processes(deploy: Deployment) -> None:
    """3 messages a minute for a visitor under the key, whichever process each of its sessions is on; the
    visitor is its address as nginx saw it, which the visitor can't forge, and another visitor is not it."""

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            visitor, landed = [], []  # the visitor's two sessions, and the process each is on
            for _ in range(2):
                before = await asyncio.to_thread(deploy.sessions)
                c = await stack.enter_async_context(Visitor(deploy.nginx, "?key=rate", "127.0.0.20"))
                await c.next_message("hello")
                visitor.append(c)
                after = await asyncio.to_thread(deploy.sessions)
                landed.append(next(i for i, (a, b) in enumerate(zip(before, after, strict=True)) if b > a))
            one, two = visitor
            assert landed[0] != landed[1], "round robin put both sessions on one process"

            for c in (one, two, one):
                sent = len(c.messages)
                await c.send({"type": "user_message", "text": "Hello."})
                assert (await c.next_message("reply_end", after=sent))["status"] == "complete"
            sent = len(two.messages)
            await two.send({"type": "user_message", "text": "Hello again."})
            refused = await two.next_message("error", after=sent)
            assert refused["code"] == "rate_limited" and "3 a minute" in refused["message"]
            assert [len(c.of_type("reply_start")) for c in visitor] == [2, 1]

            # The same visitor claiming to be someone else: nginx replaces the header, Mien still knows it.
            forged = Visitor(deploy.nginx, "?key=rate", "127.0.0.20", {"X-Forwarded-For": "203.0.113.7"})
            c = await stack.enter_async_context(forged)
            await c.next_message("hello")
            await c.send({"type": "user_message", "text": "Hello from elsewhere."})
            assert (await c.next_message("error"))["code"] == "rate_limited"
            # Another visitor (another address, the same nginx in between) has its own 3.
            c = await stack.enter_async_context(Visitor(deploy.nginx, "?key=rate", "127.0.0.21"))
            await c.next_message("hello")
            await c.send({"type": "user_message", "text": "Hello."})
            assert (await c.next_message("reply_end"))["status"] == "complete"
            assert not c.of_type("error")

    asyncio.run(main())


def test_a_stop_sent_to_any_process_reaches_the_one_holding_the_socket(deploy: Deployment) -> None:
    """A site's backend (or a control panel) stops the reply or poses the face through whichever process it
    reaches: each of the three takes a control for the session, and a stop through nginx ends the reply
    streaming from the one process that holds the socket."""
    deploy.llm.queue([{"content": "[joy] Let me think"}, {"hold": True}, {"content": " about that."}])

    async def main() -> None:
        async with Visitor(deploy.nginx) as c:
            sid = (await c.next_message("hello"))["session_id"]
            await c.send({"type": "user_message", "text": "Hm?"})
            await c.next_message("text")
            held = await asyncio.to_thread(deploy.sessions)
            assert sorted(held) == [0, 0, 1], held
            path = f"/sessions/{sid}/messages"
            control = {"type": "set_control", "name": "expressiveness", "value": 1.4}
            try:
                async with httpx.AsyncClient() as http:  # every process, the two without the socket too
                    for p in deploy.processes:
                        answer = await http.post(f"http://127.0.0.1:{p.port}{path}", json=control)
                        assert (answer.status_code, answer.json()) == (202, {"delivered": True}), p.port
                async with httpx.AsyncClient(verify=deploy.nginx.ssl_context()) as http:
                    answer = await http.post(deploy.nginx.https_url + path, json={"type": "stop"})
                assert answer.status_code == 202, answer.text
                ended = await c.next_message("reply_end")
                assert ended["status"] == "interrupted" and ended["text"] == "Let me think"
            finally:
                deploy.llm.release()

    asyncio.run(main())


def test_a_graceful_stop_hands_its_visitors_to_the_other_processes(deploy: Deployment) -> None:
    """SIGTERM (a rolling restart): the client is told `shutting_down` (1012), and its reconnect through
    nginx resumes on another process; the stopped process exits cleanly."""
    deploy.llm.queue([{"content": "Noted, Ada."}])
    stopped: int | None = None
    try:

        async def main() -> None:
            nonlocal stopped
            async with Visitor(deploy.nginx) as c:
                sid = (await c.next_message("hello"))["session_id"]
                await c.send({"type": "user_message", "text": "I'm Ada."})
                assert (await c.next_message("reply_end"))["status"] == "complete"
                stopped = (await asyncio.to_thread(deploy.sessions)).index(1)
                process = deploy.processes[stopped]
                stopping = asyncio.create_task(asyncio.to_thread(process.stop))
                await asyncio.wait_for(c.closed.wait(), 30)
                assert c.close_code == 1012 and c.of_type("error")[-1]["code"] == "shutting_down"
            # The page reconnects at once; while the process still drains it says so again (bounded).
            for _ in range(5):
                async with Visitor(deploy.nginx, "?resume=1") as c:
                    await c.send({"type": "resume", "session_id": sid})
                    first = await _first(c)
                    if first["type"] == "error" and first["code"] == "shutting_down":
                        continue
                    assert first["type"] == "hello" and first["resumed"] is True
                    history = await c.next_message("history", reason="resume")
                    assert [t["content"] for t in history["turns"]] == ["I'm Ada.", "Noted, Ada."]
                    # Drained and gone (uvicorn re-raises the SIGTERM it handled once it has stopped).
                    assert await stopping in (0, -signal.SIGTERM)
                    assert any("Application shutdown complete" in line for line in process.log)
                    assert sum(await asyncio.to_thread(deploy.sessions)) == 1  # on another process
                    break
            else:
                raise AssertionError("every reconnect was refused")

        asyncio.run(main())
    finally:
        if stopped is not None:
            if deploy.processes[stopped].proc is not None:
                deploy.processes[stopped].kill()
            deploy.processes[stopped] = deploy.make(deploy.processes[stopped].port)


def test_a_conversation_resumes_on_another_process_after_its_own_is_killed(deploy: Deployment) -> None:
    """SIGKILL: the socket drops. nginx gives new connections to the living processes only, and the page's
    resume lands on one of them with the whole conversation, which goes on from there."""
    deploy.llm.queue(
        [{"content": "Nice to meet you, Ada."}],
        [{"content": "Blue is a fine colour."}],
        [{"content": "You are Ada, and you like blue."}],
    )
    said = ["My name is Ada.", "Nice to meet you, Ada.", "I like blue.", "Blue is a fine colour."]
    killed: int | None = None
    try:

        async def main() -> None:
            nonlocal killed
            async with Visitor(deploy.nginx) as c:
                sid = (await c.next_message("hello"))["session_id"]
                for text in said[::2]:
                    sent = len(c.messages)
                    await c.send({"type": "user_message", "text": text})
                    assert (await c.next_message("reply_end", after=sent))["status"] == "complete"
                held = await asyncio.to_thread(deploy.sessions)
                assert sorted(held) == [0, 0, 1], held
                killed = held.index(1)
                await asyncio.to_thread(deploy.processes[killed].kill)
                await asyncio.wait_for(c.closed.wait(), 30)
                assert c.close_code == 1006  # no goodbye from a killed process

            # Three new visitors in a row: round robin reaches the dead process, and nginx moves on.
            logged = len(deploy.nginx.log)
            async with contextlib.AsyncExitStack() as stack:
                fresh = [
                    await stack.enter_async_context(Visitor(deploy.nginx, address=f"127.0.0.{30 + i}"))
                    for i in range(3)
                ]
                assert [(await _first(c))["type"] for c in fresh] == ["hello"] * 3
            dead = f'upstream: "http://127.0.0.1:{deploy.processes[killed].port}/ws"'
            tried = partial(deploy.nginx.wait_for_log, lambda line: "failed" in line and dead in line, logged)
            await asyncio.to_thread(tried)

            async with Visitor(deploy.nginx, "?resume=1") as c:
                await c.send({"type": "resume", "session_id": sid})
                hello = await c.next_message("hello")
                assert hello["resumed"] is True and hello["session_id"] == sid
                history = await c.next_message("history", reason="resume")
                assert [t["content"] for t in history["turns"]] == said
                assert [t["role"] for t in history["turns"]] == ["user", "assistant"] * 2
                sent = len(c.messages)
                await c.send({"type": "user_message", "text": "What do you know about me?"})
                end = await c.next_message("reply_end", after=sent)
                assert end["status"] == "complete" and end["text"] == "You are Ada, and you like blue."
                assert not c.of_type("error")  # no reply was in flight when it died: nothing lost
                # The model was given the whole conversation, stored by the dead process.
                sent_to_model = deploy.llm.requests[-1]["messages"]
                assert [m["content"] for m in sent_to_model[1:]] == [*said, "What do you know about me?"]
                assert sum(await asyncio.to_thread(deploy.sessions)) == 1  # on a living process

        asyncio.run(main())
    finally:
        if killed is not None:  # back on its port for the module's next tests
            deploy.processes[killed] = deploy.make(deploy.processes[killed].port)


def _interpolated(value: str) -> str:
    """Compose's `${VAR:-default}` and `${VAR:?why}` for a site that set the required ones."""
    return re.sub(r"\$\{(\w+):([-?])([^}]*)\}", lambda m: m[3] if m[2] == "-" else f"set-{m[1]}", value)


def test_the_compose_file_agrees_with_nginx_and_with_mien_settings() -> None:
    """No Docker here: what would break the Compose deployment silently is checked between its files. nginx
    sends to the addresses the Mien services have, Mien trusts nginx's address, every service waits for
    the health of what it needs, and the environment is settings `mien serve` accepts."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services, backend = compose["services"], compose["networks"]["backend"]["ipam"]["config"][0]
    mien = {name: s for name, s in services.items() if s.get("image") == "mien:local"}
    assert len(mien) >= 2
    subnet, dynamic = ipaddress.ip_network(backend["subnet"]), ipaddress.ip_network(backend["ip_range"])
    monitoring = ipaddress.ip_network(compose["networks"]["monitoring"]["ipam"]["config"][0]["subnet"])

    def address(service: dict[str, Any]) -> ipaddress.IPv4Address:
        fixed = ipaddress.IPv4Address(service["networks"]["backend"]["ipv4_address"])
        assert fixed in subnet and fixed not in dynamic  # Redis and PostgreSQL can't take it first
        return fixed

    listed = re.findall(r"^server (\S+):(\d+)", (DEPLOY / "nginx" / "upstream.conf").read_text(), re.M)
    assert sorted((ipaddress.IPv4Address(a), int(p)) for a, p in listed) == sorted(
        (address(s), 8000) for s in mien.values()
    ), "nginx/upstream.conf and the Mien services' addresses differ"

    nginx = services["nginx"]
    for name, service in mien.items():
        env = {k: _interpolated(str(v)) for k, v in service["environment"].items()}
        assert ipaddress.IPv4Address(env["MIEN_FORWARDED_ALLOW_IPS"]) == address(nginx)
        settings = Settings.load(environ=env)  # raises on a value `mien serve` would refuse
        assert settings.redis_url and urlsplit(settings.redis_url).hostname in services
        assert urlsplit(env["MIEN_DATABASE_URL"]).hostname in services
        readers = [ipaddress.ip_network(n) for n in settings.metrics_from]
        assert any(monitoring.subnet_of(n) for n in readers if n.version == 4)  # Prometheus may scrape
        assert "monitoring" in service["networks"]
        assert set(mien) <= set(settings.hosts)  # Prometheus scrapes by the services' names
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        assert nginx["depends_on"][name] == {"condition": "service_healthy"}
        assert {k: v["condition"] for k, v in service["depends_on"].items()} == {
            "redis": "service_healthy",
            "postgres": "service_healthy",
        }
    for engine in ("redis", "postgres"):
        assert services[engine]["healthcheck"]["test"]
    # nginx mounts deploy/nginx where mien.conf's `include mien/...` finds it, and mien.conf as the site.
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in nginx["volumes"] if v.startswith("./nginx"))
    assert mounts == {"./nginx/mien.conf": "/etc/nginx/conf.d/default.conf", "./nginx": "/etc/nginx/mien"}
    assert all((DEPLOY / path).exists() for path in mounts)
    included = re.findall(r"include mien/(\S+);", (DEPLOY / "nginx" / "mien.conf").read_text())
    assert included and all((DEPLOY / "nginx" / name).is_file() for name in included)
