"""The keyed work queue: dedupe, in-flight re-queue, delays, backoff, shutdown."""

from __future__ import annotations

import random
import threading
import time

import pytest

from daemon.controller.workqueue import ShutDown, WorkQueue
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


def test_backoff_doubles_to_its_cap_and_the_exponent_stops_growing() -> None:
    queue = WorkQueue(jitter=0)
    assert [queue.backoff("k") for _ in range(10)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert queue.failures("k") == 10 and queue.failures("other") == 0
    queue.forget("k")
    assert queue.failures("k") == 0
    tiny = WorkQueue(base_delay=1e-12, max_delay=1e9, jitter=0)
    assert [tiny.backoff("k") for _ in range(40)][-1] == 1e-12 * 2.0**32


def test_jitter_spreads_both_ways() -> None:
    random.seed(7)
    queue = WorkQueue(jitter=0.2)
    delays = []
    for _ in range(200):
        queue.forget("k")
        delays.append(queue.backoff("k"))
    assert 0.8 <= min(delays) < 0.9 and 1.1 < max(delays) <= 1.2


def test_a_retry_due_now_or_soon_is_handed_out() -> None:
    queue = WorkQueue()
    queue.add_after("now", 0)
    assert queue.get(timeout=1) == "now"
    queue.add_after("soon", 0.05)
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get()), daemon=True)
    waiter.start()  # no timeout: the wait is bounded by the retry's due time alone
    waiter.join(timeout=10)
    assert got == ["soon"]


def test_a_waiting_worker_sleeps_instead_of_spinning() -> None:
    queue = WorkQueue()
    queue.add_after("k", 0.6)
    used = time.process_time()
    assert queue.get(timeout=5) == "k"
    assert time.process_time() - used < 0.3  # a busy loop would burn the whole 0.6 s


def test_done_frees_the_key_and_a_second_add_is_not_a_second_copy() -> None:
    queue = WorkQueue()
    queue.add("k")
    assert queue.busy("k") and queue.get(timeout=1) == "k" and queue.busy("k")
    queue.add("k")  # while processing: marked to run again
    queue.done("k")  # ...so it is queued again, once
    queue.add("k")
    assert queue.depth() == 1 and queue.get(timeout=1) == "k"
    queue.done("k")
    assert not queue.busy("k") and queue.get(timeout=0.1) is None
    queue.add("k")
    assert queue.get(timeout=1) == "k"


def test_a_retry_falling_due_while_its_key_is_processed_runs_after_it() -> None:
    queue = WorkQueue()
    queue.add("k")
    assert queue.get(timeout=1) == "k"
    queue.add_after("k", 0.01)
    assert queue.get(timeout=0.2) is None  # due, but k is being worked on
    queue.done("k")
    assert queue.get(timeout=1) == "k"


def test_nothing_is_requeued_after_shut_down() -> None:
    queue = WorkQueue()
    queue.add("k")
    assert queue.get(timeout=1) == "k"
    queue.add("k")
    queue.shut_down()
    queue.done("k")
    with pytest.raises(ShutDown):
        queue.get(timeout=1)


def test_a_retry_that_fell_due_is_queued_once_however_often_it_is_added() -> None:
    queue = WorkQueue()
    queue.add_after("k", 0.01)
    eventually(lambda: queue.depth() == 1, timeout=5, what="the retry due and waiting")
    queue.add("k")
    assert queue.depth() == 1


def test_a_get_with_under_a_second_left_sleeps_and_wakes_for_an_add() -> None:
    """A worker whose wait ends in less than a second still sleeps (releasing the lock), so
    an add reaches it at once rather than after the deadline."""
    queue = WorkQueue()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(queue.get(timeout=0.9)))
    worker.start()
    eventually(lambda: queue._cond._waiters, timeout=5, what="the worker asleep in get()")  # type: ignore[attr-defined]
    queue.add("k")
    worker.join(timeout=5)
    assert got == ["k"]
