"""The drivers of one config: one per target kind, made on first use, each behind the
boundary that turns botocore's exceptions into pinback's (``AwsErrorsTranslated``); a
plug-in's also behind one that turns its own bugs into ``PluginFailed``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from daemon.adapters.aws import AwsClients
from daemon.core.model import Action, Kind, Observed, Pin, Resolved, VersionInfo
from daemon.drivers.base import (
    AwsErrorsTranslated,
    Driver,
    DriverContext,
    Progress,
    Started,
    Waiting,
    settle,
)
from daemon.errors import PinbackError, PluginFailed
from daemon.spec import LoadedConfig, TargetKind, installed
from daemon.spec.kinds import missing_methods

R = TypeVar("R")


class DriverSet:
    def __init__(self, config: LoadedConfig, clients: AwsClients) -> None:
        self.config = config
        self.clients = clients
        self._drivers: dict[Kind, Driver] = {}
        self._lock = threading.Lock()

    def of_kind(self, kind: Kind) -> Driver:
        """The driver of ``kind``, made on first use.

        Made lazily so each driver's libraries (SQLAlchemy for the database) are
        imported in that kind's observe thread, overlapping the other kinds' network
        waits, and not at all when no target of the kind is touched.
        """
        with self._lock:
            if kind not in self._drivers:
                self._drivers[kind] = AwsErrorsTranslated(self._make(kind))
            return self._drivers[kind]

    def of(self, target: str) -> Driver:
        return self.of_kind(self.config.kind_of(target))

    def names(self, only: str | None = None) -> list[str]:
        """Every target's name, or ``only`` after checking the config declares it."""
        if only is None:
            return list(self.config.model.targets)
        if only not in self.config.model.targets:
            declared = ", ".join(self.config.model.targets)
            raise PinbackError(f"no target named {only!r} in the config (declared: {declared})")
        return [only]

    def _make(self, kind: Kind) -> Driver:
        described = installed().get(kind)
        targets: dict[str, Any] = {
            n: t for n, t in self.config.model.targets.items() if isinstance(t, described.target)
        }
        context = DriverContext(self.clients, self.config, self.config.model.daemon.concurrency)
        if described.driver is not None:
            return _plugin_driver(described, targets, context)
        if kind == Kind.FRONTEND:
            from daemon.drivers.frontend import FrontendDriver

            return FrontendDriver(targets, self.clients, self.config)
        if kind == Kind.ECS:
            from daemon.drivers.ecs import EcsDriver

            return EcsDriver(targets, self.clients, context.concurrency)
        if kind == Kind.LAMBDA:
            from daemon.drivers.aws_lambda import LambdaDriver

            return LambdaDriver(targets, self.clients, context.concurrency)
        from daemon.drivers.database import DatabaseDriver

        return DatabaseDriver(targets, self.config)


def _plugin_driver(
    described: TargetKind, targets: Mapping[str, Any], context: DriverContext
) -> Driver:
    """A plug-in's driver, checked for the port's methods once made."""
    assert described.driver is not None
    who = f"the plug-in for kind {described.name!r} ({described.distribution})"
    try:
        made = described.driver(targets, context)
    except PinbackError:
        raise
    except Exception as exc:
        raise PluginFailed(f"{who} could not make its driver: {type(exc).__name__}: {exc}") from exc
    missing = missing_methods(made)
    if missing:
        raise PluginFailed(f"{who}: its driver lacks {', '.join(missing)}")
    return PluginContained(made, who)


class PluginContained:
    """A plug-in's driver whose unexpected exceptions leave as ``PluginFailed`` naming it: a
    bug in someone else's code fails its own targets, not the controller's pass."""

    def __init__(self, driver: Driver, who: str) -> None:
        self.driver = driver
        self.kind = driver.kind
        self.who = who

    def _call(self, call: Callable[[], R]) -> R:
        try:
            return call()
        except PinbackError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("botocore"):
                raise  # translated by AwsErrorsTranslated, outside this one
            raise PluginFailed(f"{self.who} failed: {type(exc).__name__}: {exc}") from exc

    def observe(self, targets: Sequence[str]) -> dict[str, Observed]:
        return self._call(lambda: self.driver.observe(targets))

    def preflight(self, target: str, pin: Pin, observed: Observed) -> Resolved:
        return self._call(lambda: self.driver.preflight(target, pin, observed))

    def apply(self, target: str, action: Action, progress: Progress) -> Started:
        return self._call(lambda: self.driver.apply(target, action, progress))

    def wait(self, target: str, action: Action, waiting: Waiting) -> None:
        self._call(lambda: self.driver.wait(target, action, waiting))

    def verify(self, target: str, action: Action) -> Observed:
        return self._call(lambda: self.driver.verify(target, action))

    def settle(self, target: str, action: Action, waiting: Waiting) -> None:
        self._call(lambda: settle(self.driver, target, action, waiting))

    def versions(self, target: str, limit: int, seen: Observed | None = None) -> list[VersionInfo]:
        return self._call(lambda: self.driver.versions(target, limit, seen))
