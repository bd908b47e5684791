"""The keyed work queue: dedupe, in-flight re-queue, delays, backoff, shutdown."""

from __future__ import annotations

import threading

import pytest

from daemon.workqueue import ShutDown, WorkQueue
from tests.stands.waiting import eventually


def test_a_key_is_queued_once() -> None:
    """Adding a waiting key again does not queue it twice."""
    queue = WorkQueue()
    for _ in range(3):
        queue.add("backend")
    queue.add("frontend")
    assert queue.depth() == 2
    assert [queue.get(0), queue.get(0)] == ["backend", "frontend"]
    assert queue.get(0) is None


def test_key_added_while_processing_comes_back_once_done() -> None:
    """A change that arrives while a worker holds the key is not lost, and not run in parallel."""
    queue = WorkQueue()
    queue.add("backend")
    assert queue.get(0) == "backend"
    queue.add("backend")
    assert queue.get(0) is None  # not handed to a second worker while the first holds it
    queue.done("backend")
    assert queue.get(0) == "backend"


def test_add_after_waits_for_the_delay() -> None:
    queue = WorkQueue()
    queue.add_after("backend", 0.2)
    assert queue.get(0.01) is None
    assert queue.get(2.0) == "backend"


def test_backoff_doubles_and_caps_and_forget_resets() -> None:
    """1 s, 2 s, 4 s... capped at 5 min (jitter within 20%); forget starts again at 1 s."""
    queue = WorkQueue()
    delays = [queue.backoff("db") for _ in range(12)]
    for attempt, delay in enumerate(delays):
        expected = min(300.0, 2.0**attempt)
        assert expected * 0.8 <= delay <= expected * 1.2
    queue.forget("db")
    assert 0.8 <= queue.backoff("db") <= 1.2


def test_forget_drops_scheduled_retries() -> None:
    """A newer pin must not wait out the old pin's retry: forget removes it."""
    queue = WorkQueue()
    queue.add_after("backend", 0.1)
    queue.forget("backend")
    assert queue.get(0.3) is None


def test_shutdown_wakes_waiting_workers() -> None:
    queue = WorkQueue()
    raised = threading.Event()

    def worker() -> None:
        with pytest.raises(ShutDown):
            queue.get()
        raised.set()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    eventually(lambda: queue._cond._waiters, timeout=5, what="the worker waiting in get()")  # type: ignore[attr-defined]
    queue.shut_down()
    thread.join(timeout=5)
    assert raised.is_set()
