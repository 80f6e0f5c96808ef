"""When a session is idle: no client message for `idle_timeout` seconds (`hidden_idle_timeout` while its
page is hidden), and no reply going on. The watchdog sleeps until that deadline and wakes early only when the
page is shown or hidden (a message only moves the deadline later): no polling per session."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from server.protocol import Error
from server.session.dialogue import Dialogue
from server.session.outlet import Outlet
from server.settings import Settings


async def idle(
    settings: Settings, dialogue: Dialogue, outlet: Outlet, last_input: Callable[[], float]
) -> Error:
    """Returns, once the session is idle, the error that tells its client why it is closed.
    `last_input()`: when the client last sent anything (the loop's clock)."""
    loop = asyncio.get_running_loop()
    while True:
        reply = dialogue.reply_task
        if reply is not None:  # in use until it ends (its voice included)
            await asyncio.wait([reply])
            continue
        hidden = outlet.hidden
        limit = settings.hidden_idle_timeout if hidden else settings.idle_timeout
        left = max(last_input(), dialogue.quiet_since) + limit - loop.time()
        if left <= 0:
            where = "the page was hidden" if hidden else "nothing was sent"
            return Error(
                code="idle_timeout", message=f"closed after {limit:g} s in which {where}; reconnect to go on"
            )
        outlet.visibility.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(outlet.visibility.wait(), left)
