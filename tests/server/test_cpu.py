"""The urgent-work gate: nestable across threads; a waiter passes once the last urgent block ends."""

from __future__ import annotations

import sys
import threading
from types import FrameType
from typing import Any

from server.cpu import is_urgent, urgent, wait_if_urgent


def test_urgent_blocks_nest_and_release() -> None:
    assert not is_urgent()
    with urgent():
        with urgent():
            assert is_urgent()
        assert is_urgent()  # the outer block still runs
    assert not is_urgent()
    wait_if_urgent(timeout=30)  # returns at once when nothing is urgent (a hang would time the test out)


def test_a_waiter_is_held_until_the_last_urgent_block_ends() -> None:
    """Urgent blocks in two threads; one ends, and a waiter that then arrives is held (by events: it is seen
    blocking, never "not passed yet") until the other ends too."""
    other_in, other_may_end = threading.Event(), threading.Event()
    settled = threading.Event()  # the waiter blocked (or, were the gate open, passed)
    passed = threading.Event()

    def voice() -> None:
        with urgent():
            other_in.set()
            assert other_may_end.wait(30)

    def model() -> None:
        sys.setprofile(on_blocking(settled))
        try:
            wait_if_urgent(timeout=30)
        finally:
            sys.setprofile(None)
        passed.set()
        settled.set()

    other = threading.Thread(target=voice)
    with urgent():
        other.start()
        assert other_in.wait(30)
        other_may_end.set()
        other.join(30)
        assert is_urgent()  # the other thread's block ended; this one still runs
        waiter = threading.Thread(target=model)
        waiter.start()
        assert settled.wait(30)
        assert not passed.is_set()  # it blocked while urgent work runs, instead of passing
    assert passed.wait(30)  # the last urgent block ended: it goes on
    waiter.join(30)


def on_blocking(blocked: threading.Event) -> Any:
    """A profile function that sets `blocked` when its thread starts waiting in threading.Condition.wait,
    where every blocking primitive of `threading` (Event, Semaphore, Barrier, Condition) waits."""
    wait = threading.Condition.wait.__code__

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is wait:
            blocked.set()

    return profile
