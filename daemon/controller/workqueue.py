"""A keyed work queue with per-key backoff: the controller's scheduling, and nothing else.

Modelled on client-go's rate-limited workqueue. A key (a target name) is queued at
most once; a key added while a worker holds it is marked dirty and handed out again
when the worker is done, so a change is never lost and never processed twice at once.
``add_after`` schedules a retry; ``backoff`` computes per-key exponential delays
(start 1 s, doubling, capped at 5 min, with jitter) and ``forget`` resets them after a
success or a new pin. No domain knowledge lives here.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import deque


class ShutDown(Exception):
    """Raised by ``get`` once the queue is shut down and empty of waiting work."""


class WorkQueue:
    def __init__(
        self, base_delay: float = 1.0, max_delay: float = 300.0, jitter: float = 0.2
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self._ready: deque[str] = deque()
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._delayed: list[tuple[float, str]] = []
        self._failures: dict[str, int] = {}
        self._closed = False
        self._cond = threading.Condition()

    def add(self, key: str) -> None:
        """Queue ``key`` now (a no-op if it is already waiting)."""
        with self._cond:
            if self._closed:
                return
            if key in self._processing:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._ready.append(key)
                self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` once ``delay`` seconds have passed."""
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if not self._closed:
                heapq.heappush(self._delayed, (time.monotonic() + delay, key))
                self._cond.notify()

    def backoff(self, key: str) -> float:
        """The next retry delay for ``key``; each call doubles it, up to the cap."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        delay = min(self.max_delay, self.base_delay * 2.0 ** min(failures, 32))
        return float(delay * (1 + random.uniform(-self.jitter, self.jitter)))

    def failures(self, key: str) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def forget(self, key: str) -> None:
        """Reset ``key``'s backoff and drop its scheduled retries (success, or a newer pin)."""
        with self._cond:
            self._failures.pop(key, None)
            self._delayed = [(t, k) for t, k in self._delayed if k != key]
            heapq.heapify(self._delayed)

    def get(self, timeout: float | None = None) -> str | None:
        """The next key to work on (now marked processing), or None after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._promote_due()
                if self._ready:
                    key = self._ready.popleft()
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                if self._closed:
                    raise ShutDown
                wait = None if deadline is None else deadline - time.monotonic()
                if self._delayed:
                    due = self._delayed[0][0] - time.monotonic()
                    wait = due if wait is None else min(wait, due)
                if wait is not None and wait <= 0:
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
                    continue
                self._cond.wait(wait)

    def done(self, key: str) -> None:
        """The worker finished ``key``; if it was added meanwhile, it is queued again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                if key not in self._queued and not self._closed:
                    self._queued.add(key)
                    self._ready.append(key)
                    self._cond.notify()

    def depth(self) -> int:
        """Keys waiting to be handed out now (not those being worked on or scheduled later)."""
        with self._cond:
            self._promote_due()
            return len(self._ready)

    def busy(self, key: str) -> bool:
        with self._cond:
            return key in self._processing or key in self._queued

    def shut_down(self) -> None:
        """Hand out nothing new; ``get`` raises ``ShutDown`` once the ready keys are drained."""
        with self._cond:
            self._closed = True
            self._ready.clear()
            self._queued.clear()
            self._delayed.clear()
            self._cond.notify_all()

    def _promote_due(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, key = heapq.heappop(self._delayed)
            if key in self._processing:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._ready.append(key)
