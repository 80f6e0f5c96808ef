"""The retention pass: conversations idle for longer than the setting are deleted, at start-up and then
hourly, once per server and never per connection (with PostgreSQL, once an hour for all the servers sharing
it: the store skips a pass another process ran within the hour)."""

from __future__ import annotations

import asyncio
import logging
import time

from server.store import Store, StoreUnavailable

PURGE_EVERY = 3600.0  # s between retention passes
log = logging.getLogger("mien.store")


async def purge(store: Store, days: float) -> None:
    """One pass: delete conversations idle for longer than `days` (0 keeps them)."""
    if days <= 0:
        return
    try:
        purged = await store.purge(time.time() - days * 86400, every=PURGE_EVERY)
        if purged:
            log.info("retention: %d conversations older than %g days deleted", purged, days)
    except Exception as e:  # a database down, locked or full (no traceback: not a bug): try again next time
        log.error("retention pass failed: %s", e, exc_info=not isinstance(e, StoreUnavailable))


async def retention(store: Store, days: float) -> None:
    """A pass every PURGE_EVERY seconds, for as long as the server runs (cancelled at shutdown)."""
    while days > 0:
        await asyncio.sleep(PURGE_EVERY)
        await purge(store, days)
