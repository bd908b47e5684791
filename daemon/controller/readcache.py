"""Answers for readers, shared between them: the status page's ``/versions/T`` links.

During an incident people refresh the page, and every card links a target's versions.
Fetched per reader, each refresh spent AWS calls from the account's API rate that the
rollback itself needs (100 readers: 596 calls). Here a key's answer is fetched at most
once per ``ttl`` whoever asks, concurrent askers wait for the one fetch in flight, and
all keys together are fetched at most ``per_minute`` times a minute: past that an older
answer is served as it is (with its age), or, with none, ``ReadBudgetSpent`` says when
to come back. No domain knowledge lives here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from daemon.errors import PinbackError

T = TypeVar("T")
WINDOW = 60.0


class ReadBudgetSpent(PinbackError):
    """No fresh answer may be fetched now and none is kept; ``retry_after`` in seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many reads of AWS this minute; try again in {retry_after:.0f}s")


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T
    age_s: float


class ReadCache(Generic[T]):
    def __init__(
        self, ttl: float, per_minute: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.per_minute = per_minute
        self._clock = clock
        self._kept: dict[str, tuple[float, T]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._fetches: deque[float] = deque()
        self._lock = threading.Lock()

    def get(self, key: str, fetch: Callable[[], T]) -> Answer[T]:
        """``key``'s answer, fetched by ``fetch`` only when none younger than ``ttl`` is kept
        and the budget allows; ``fetch``'s errors reach the caller and nothing is kept."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one fetch per key at a time; the others then read what it kept
            now = self._clock()
            kept = self._kept.get(key)
            if kept is not None and now - kept[0] < self.ttl:
                return Answer(kept[1], now - kept[0])
            wait = self._spend(now)
            if wait > 0:
                if kept is not None:
                    return Answer(kept[1], now - kept[0])
                raise ReadBudgetSpent(wait)
            value = fetch()
            self._kept[key] = (self._clock(), value)
            return Answer(value, 0.0)

    def _spend(self, now: float) -> float:
        """Take one fetch from the budget: 0 when taken, else seconds until one frees up."""
        with self._lock:
            while self._fetches and now - self._fetches[0] >= WINDOW:
                self._fetches.popleft()
            if len(self._fetches) >= self.per_minute:
                return WINDOW - (now - self._fetches[0])
            self._fetches.append(now)
            return 0.0
