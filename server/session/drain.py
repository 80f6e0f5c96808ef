"""A graceful stop: admit no one, let each session's reply finish (within a grace period), then tell every
client to reconnect (close 1012, "service restart") and wait for the sessions to end. Conversations are
stored turn by turn, so a client that reconnects to the next server resumes where it was: a rolling
restart loses no turn (a reply past the grace period is kept as interrupted)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from server.limits import Gatekeeper
from server.protocol import Error
from server.session.session import CLOSE_RESTART, Session

log = logging.getLogger("mien")


async def drain(sessions: dict[str, Session], gate: Gatekeeper, grace: float) -> None:
    gate.closing = True  # new sessions now get `shutting_down` (close 1012: try again, elsewhere or soon)
    open_now = list(sessions.values())
    if not open_now:
        return
    log.info("draining %d sessions (up to %g s for replies in progress)", len(open_now), grace)
    deadline = time.monotonic() + grace
    await asyncio.gather(*(_finish(s, deadline) for s in open_now))


async def _finish(session: Session, deadline: float) -> None:
    reply = session.dialogue.reply_task if session.dialogue is not None else None
    if reply is not None:
        await asyncio.wait([reply], timeout=max(0.0, deadline - time.monotonic()))
    message = "the server is restarting; reconnecting resumes this conversation"
    session.goodbye(CLOSE_RESTART, Error(code="shutting_down", message=message))
    # The socket closes once the goodbye is sent; a client that reads nothing is cut at the deadline.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(session.ended.wait(), max(1.0, deadline - time.monotonic()))
