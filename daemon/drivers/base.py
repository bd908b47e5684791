"""The one small port every target kind implements, and the wait loop they share.

A driver owns every AWS or database call of its kind; nothing else in pinback makes
one. Methods take target names, so one driver instance serves all targets of its
kind and ``observe`` can batch (10 ECS services a call, one ECR listing a repository).

Promises each driver keeps:
- ``observe`` and ``preflight`` never change anything; ``preflight`` makes no call
  when the target is already in sync.
- ``apply`` is safe to repeat: it sets the desired version, it does not add to it.
- ``wait`` returns when the change has really taken, raises ``ApplyFailed`` (with the
  reason AWS gave) when it failed, ``WaitTimeout`` at the deadline, and ``WaitStopped``
  when told to stop waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters.aws import AwsClients, error_message
from daemon.core.durations import format_duration
from daemon.core.model import Action, Kind, Observed, Pin, Resolved, VersionInfo
from daemon.errors import AwsCallFailed, WaitStopped, WaitTimeout
from daemon.spec import LoadedConfig

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")  # a target kind's spec
Progress = Callable[[str, str], None]
"""``progress(target, message)``: one line of news about a long step."""

Started = Mapping[str, str]
"""What an ``apply`` started that its ``wait`` must watch (a CloudFront invalidation, a
CodeDeploy deployment), handed back to the caller and passed to ``wait``: a driver keeps no
per-apply state between the two, since one instance serves every target and thread."""
NOTHING_STARTED: Started = MappingProxyType({})


@dataclass(frozen=True)
class Waiting:
    """How one wait goes: news to ``progress``, give up at ``deadline`` (a
    ``time.monotonic()`` value), end early when ``stop`` is set, and watch what the apply
    ``started``. ``gated``: health gates judge the change after the wait, so a driver whose
    change can still be undone cheaply for a while (a blue/green deployment baking, blue
    still up) may return then, and finish in ``settle`` once the gates passed."""

    progress: Progress
    deadline: float
    stop: threading.Event | None = None
    started: Started = field(default_factory=lambda: NOTHING_STARTED)
    gated: bool = False


_CHECKING_AHEAD: ContextVar[bool] = ContextVar("checking_ahead", default=False)


@contextmanager
def checking_ahead() -> Iterator[None]:
    """Within: the preflights are the readiness check's, of versions ``versions`` has just
    listed; a driver may answer them from that listing (``checked_ahead``). Outside, every
    preflight reads AWS afresh: a rollback must see a revision deregistered a second ago."""
    token = _CHECKING_AHEAD.set(True)
    try:
        yield
    finally:
        _CHECKING_AHEAD.reset(token)


def checked_ahead() -> bool:
    """Whether the running preflight is a readiness check's (see ``checking_ahead``)."""
    return _CHECKING_AHEAD.get()


POLL_SCHEDULE = (0.1, 0.2, 0.5, 1.0, 2.0, 3.0)
POLL_SHARE = 0.1  # a wait's poll comes after a tenth of the time waited so far, at most 3 s
PROGRESS_EVERY = 10.0


class Driver(Protocol):
    kind: Kind

    def observe(self, targets: Sequence[str]) -> dict[str, Observed]: ...

    def preflight(self, target: str, pin: Pin, observed: Observed) -> Resolved: ...

    def apply(self, target: str, action: Action, progress: Progress) -> Started: ...

    def wait(self, target: str, action: Action, waiting: Waiting) -> None: ...

    def verify(self, target: str, action: Action) -> Observed: ...

    def versions(
        self, target: str, limit: int, seen: Observed | None = None
    ) -> list[VersionInfo]: ...


class Settles(Protocol):
    """A driver whose ``wait`` may return before its change is wholly done (see
    ``Waiting.gated``): ``settle`` waits for the rest, after the gates passed. Optional: a
    driver without it is done when ``wait`` returns."""

    def settle(self, target: str, action: Action, waiting: Waiting) -> None: ...


def settle(driver: object, target: str, action: Action, waiting: Waiting) -> None:
    """``driver.settle`` when it has one; nothing otherwise."""
    method = getattr(driver, "settle", None)
    if method is not None:
        method(target, action, waiting)


@dataclass(frozen=True)
class DriverContext:
    """What a driver is made with besides its targets: the AWS clients (every call through
    them is counted, logged for the IAM check and, with leadership on, fenced), the loaded
    config (for paths relative to it), and how many calls to make at once."""

    clients: AwsClients
    config: LoadedConfig
    concurrency: int


class AwsErrorsTranslated:
    """A driver whose botocore exceptions leave as ``AwsCallFailed``: the boundary past which
    nothing knows botocore (the engine catches pinback's errors only)."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.kind = driver.kind

    def observe(self, targets: Sequence[str]) -> dict[str, Observed]:
        return _translated(lambda: self.driver.observe(targets))

    def preflight(self, target: str, pin: Pin, observed: Observed) -> Resolved:
        return _translated(lambda: self.driver.preflight(target, pin, observed))

    def apply(self, target: str, action: Action, progress: Progress) -> Started:
        return _translated(lambda: self.driver.apply(target, action, progress))

    def wait(self, target: str, action: Action, waiting: Waiting) -> None:
        _translated(lambda: self.driver.wait(target, action, waiting))

    def verify(self, target: str, action: Action) -> Observed:
        return _translated(lambda: self.driver.verify(target, action))

    def settle(self, target: str, action: Action, waiting: Waiting) -> None:
        _translated(lambda: settle(self.driver, target, action, waiting))

    def versions(self, target: str, limit: int, seen: Observed | None = None) -> list[VersionInfo]:
        return _translated(lambda: self.driver.versions(target, limit, seen))


class AwsDriver(Generic[S]):
    """What every batched AWS driver holds: its targets' specs by name, the clients, how
    many calls it makes at once, and a lock for the read caches it keeps between passes."""

    def __init__(self, targets: Mapping[str, S], clients: AwsClients, workers: int = 8) -> None:
        self.targets = targets
        self.clients = clients
        self.workers = workers
        self._lock = threading.Lock()
        self.reset_caches()

    def reset_caches(self) -> None:
        """Forget what earlier passes read; a driver with read caches makes them here."""


class Client:
    """A driver's boto3 client for one AWS service, asked of its ``clients`` at each use:
    ``AwsClients`` keeps one per thread (boto3 clients are not shared across threads)."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __get__(self, driver: object, owner: type | None = None) -> Any:
        return driver.clients.client(self.service)  # type: ignore[attr-defined]


def _translated(call: Callable[[], R]) -> R:
    try:
        return call()
    except (ClientError, BotoCoreError) as exc:
        raise AwsCallFailed(error_message(exc)) from exc


def no_progress(target: str, message: str) -> None:
    """A ``Progress`` that drops everything (library use, benchmarks)."""


def fan_out(function: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """``[function(i) for i in items]``, up to ``workers`` at once, results in order.

    For independent read calls (one describe_services per batch, one describe_images
    per repository): against AWS each costs a round trip, so a fleet's observation
    time is the longest call, not the sum.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(function, items))


def wait_until(
    check: Callable[[], tuple[bool, str]],
    target: str,
    what: str,
    waiting: Waiting,
    deadline: Callable[[], float] | None = None,
) -> None:
    """Poll ``check`` until it says done, reporting each new status and a heartbeat.

    ``check`` returns ``(done, status)`` and raises ``ApplyFailed`` on a failure it
    sees. Polls start fast (moto and quick rollouts finish in well under a second) and
    slow down with the time waited: the next comes after a tenth of it, at most 3 s, so a
    change is seen taken at most about 10% after it took (a 5 s rollout is not reported at
    8 s), and a 5-minute rollout costs about 130 reads. ``deadline``, when given, is asked after each poll: a check that
    learns the change takes longer by its own configuration (a bake time, a paused hook)
    moves it later.
    """
    progress, stop = waiting.progress, waiting.stop
    deadline_of = deadline or (lambda: waiting.deadline)
    started = time.monotonic()
    last_status = ""
    last_report = started
    while True:
        done, status = check()
        now = time.monotonic()
        ends = deadline_of()
        elapsed = format_duration(now - started)
        if status != last_status or now - last_report >= PROGRESS_EVERY:
            progress(target, f"{what}: {status} ({elapsed})")
            last_status, last_report = status, now
        if done:
            return
        if now >= ends:
            raise WaitTimeout(f"{what} did not finish in time; last status: {status} ({elapsed})")
        pause = min(POLL_SCHEDULE[-1], max(POLL_SCHEDULE[0], (now - started) * POLL_SHARE))
        pause = min(pause, max(0.0, ends - now))
        if stop is not None:
            if stop.wait(pause):
                raise WaitStopped(
                    f"{what}: stopped waiting (shutdown or a newer pin); last status: {status}"
                )
        else:
            time.sleep(pause)
