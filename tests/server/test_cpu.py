"""The urgent-work gate: nestable across threads; a waiter passes once the last urgent block ends."""

from __future__ import annotations

import threading

from server.cpu import is_urgent, urgent, wait_if_urgent


def test_urgent_blocks_nest_and_release() -> None:
    assert not is_urgent()
    with urgent():
        with urgent():
            assert is_urgent()
        assert is_urgent()  # the outer block still runs
    assert not is_urgent()
    wait_if_urgent(timeout=30)  # returns at once when nothing is urgent (a hang would time the test out)


def test_a_waiter_passes_when_urgent_work_ends() -> None:
    passed = threading.Event()
    inside = threading.Event()

    def model() -> None:
        inside.set()
        wait_if_urgent(timeout=30)
        passed.set()

    with urgent():
        thread = threading.Thread(target=model)
        thread.start()
        assert inside.wait(10)
        assert not passed.is_set()  # still urgent: the waiter is held
    assert passed.wait(10)
    thread.join()
