"""What a store raises when it can't be reached, apart from bugs (its own module: the stores import it)."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The store can't be reached or can't take writes right now (connection refused or lost, a timeout,
    a locked or full database). Nothing was written; the same call may work later."""
