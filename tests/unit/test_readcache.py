"""Reads shared between readers: one fetch per key per ttl, a budget per minute (no servers)."""

from __future__ import annotations

import threading

import pytest

from daemon.controller.readcache import ReadBudgetSpent, ReadCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_fetch_per_ttl_whoever_asks() -> None:
    clock, fetched = Clock(), []
    cache: ReadCache[int] = ReadCache(ttl=30, per_minute=10, clock=clock)
    for _ in range(5):
        assert cache.get("backend", lambda: fetched.append(1) or len(fetched)).value == 1
    clock.now += 29
    assert cache.get("backend", lambda: fetched.append(1) or len(fetched)).age_s == 29
    clock.now += 1
    assert cache.get("backend", lambda: fetched.append(1) or len(fetched)).value == 2


def test_concurrent_readers_share_the_fetch_in_flight() -> None:
    """Twenty readers at once: one fetch, every reader gets its answer."""
    cache: ReadCache[str] = ReadCache(ttl=30, per_minute=10)
    started, release, calls = threading.Event(), threading.Event(), []

    def slow() -> str:
        calls.append(1)
        started.set()
        release.wait(10)
        return "v"

    answers: list[str] = []
    readers = [
        threading.Thread(target=lambda: answers.append(cache.get("k", slow).value))
        for _ in range(20)
    ]
    for reader in readers:
        reader.start()
    assert started.wait(10)
    release.set()
    for reader in readers:
        reader.join(10)
    assert calls == [1] and answers == ["v"] * 20


def test_past_the_budget_an_older_answer_is_served_else_a_time_to_come_back() -> None:
    clock = Clock()
    cache: ReadCache[str] = ReadCache(ttl=1, per_minute=2, clock=clock)
    cache.get("a", lambda: "a1")
    cache.get("b", lambda: "b1")
    clock.now += 5
    answer = cache.get("a", lambda: "a2")  # budget spent: the kept answer, 5 s old
    assert (answer.value, answer.age_s) == ("a1", 5)
    with pytest.raises(ReadBudgetSpent) as caught:
        cache.get("c", lambda: "c1")
    assert caught.value.retry_after == 55
    clock.now += 55
    assert cache.get("c", lambda: "c1").value == "c1"


def test_a_failed_fetch_keeps_nothing_and_reaches_the_caller() -> None:
    cache: ReadCache[str] = ReadCache(ttl=30, per_minute=10)

    def broken() -> str:
        raise RuntimeError("AWS is down")

    with pytest.raises(RuntimeError):
        cache.get("k", broken)
    assert cache.get("k", lambda: "v").value == "v"
