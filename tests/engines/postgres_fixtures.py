"""pytest fixtures on a real PostgreSQL (tests/engines/postgres.py): `pg_server`, one server for the whole
test run; `pg_url`, a fresh database of it per test; `open_store`, a test run once with each conversation
store. A test module takes them with `pytest_plugins = ["tests.engines.postgres_fixtures"]`, and never
imports this module itself (pytest loads it as a plugin)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server.store import Store
from server.store.postgres import PostgresStore
from server.store.sqlite import SqliteStore
from tests.engines.postgres import PostgresServer


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the whole test run (a test that stops it starts it again, or `pg_url` does)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh, empty database of the shared server."""
    if not pg_server.running:  # a test stopped it and failed before starting it again
        pg_server.start()
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Opens a conversation store, SQLite then PostgreSQL (the test runs once with each), on one database:
    each call another instance (a restart, or another process)."""
    if request.param == "sqlite":
        path = tmp_path / "data" / "mien.sqlite3"
        return lambda: SqliteStore(path)
    url = request.getfixturevalue("pg_url")
    return lambda: PostgresStore(url)
