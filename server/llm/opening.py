"""Opening a provider's stream when the reply may be cancelled at any moment."""

from __future__ import annotations

import asyncio
from typing import Any


async def started(call: Any) -> Any:
    """Await litellm's call to open a stream. Cancelled meanwhile, the call still runs to its end and the
    stream it opened is closed: cut off halfway, litellm would leave a coroutine never awaited (and an HTTP
    connection open)."""
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_close_opened)
        raise


def _close_opened(task: asyncio.Task[Any]) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    closing = getattr(task.result(), "aclose", None)
    if closing is not None:
        closer = asyncio.ensure_future(closing())
        _closing.add(closer)  # held until done: the loop keeps only weak references to tasks
        closer.add_done_callback(_closing.discard)


_closing: set[asyncio.Future[Any]] = set()
