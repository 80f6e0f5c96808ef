"""Real engines for the scale-out tests, started as plain processes from Debian's packages (installed by
`make test`): no Docker, no service manager. Each listens in its own temporary directory (a unix socket
where the engine allows it), so parallel runs never fight over a port, and can be stopped and started again
at the same address (a restart mid-session)."""

from tests.engines.redis import RedisServer

__all__ = ["RedisServer"]
