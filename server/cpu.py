"""Who goes first on a small machine: work that someone is waiting to hear yields nothing to work that is
merely ahead of time. The voice marks the synthesis of a reply's first piece (a listener waits for it);
the embedded model, whose text runs far ahead of speech, pauses between tokens meanwhile."""

from __future__ import annotations

import threading

_urgent = 0
_lock = threading.Lock()
_clear = threading.Event()
_clear.set()


class urgent:
    """Marks latency-critical work in this block (nestable, any thread)."""

    def __enter__(self) -> None:
        global _urgent
        with _lock:
            _urgent += 1
            _clear.clear()

    def __exit__(self, *exc: object) -> None:
        global _urgent
        with _lock:
            _urgent -= 1
            if _urgent == 0:
                _clear.set()


def is_urgent() -> bool:
    return not _clear.is_set()


def wait_if_urgent(timeout: float = 0.5) -> None:
    """Block while urgent work runs (at most `timeout` s: never starve the caller)."""
    _clear.wait(timeout)
