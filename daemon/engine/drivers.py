"""The drivers of one config: one per target kind, made on first use, each behind the
boundary that turns botocore's exceptions into pinback's (``AwsErrorsTranslated``)."""

from __future__ import annotations

import threading
from typing import Any

from daemon.adapters.aws import AwsClients
from daemon.core.model import Kind
from daemon.drivers.base import AwsErrorsTranslated, Driver
from daemon.errors import PinbackError
from daemon.spec import AlembicTarget, EcsTarget, FrontendTarget, LambdaTarget, LoadedConfig


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
        targets = self.config.model.targets
        concurrency = self.config.model.daemon.concurrency

        def of(model: type[Any]) -> dict[str, Any]:
            return {n: t for n, t in targets.items() if isinstance(t, model)}

        if kind is Kind.FRONTEND:
            from daemon.drivers.frontend import FrontendDriver

            return FrontendDriver(of(FrontendTarget), self.clients, self.config)
        if kind is Kind.ECS:
            from daemon.drivers.ecs import EcsDriver

            return EcsDriver(of(EcsTarget), self.clients, concurrency)
        if kind is Kind.LAMBDA:
            from daemon.drivers.aws_lambda import LambdaDriver

            return LambdaDriver(of(LambdaTarget), self.clients, concurrency)
        from daemon.drivers.database import DatabaseDriver

        return DatabaseDriver(of(AlembicTarget), self.config)
