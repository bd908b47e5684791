"""One reconcile, start to end: observe -> preflight -> plan -> apply -> wait -> verify.

The one-shot CLI and the controller's workers call the same ``Engine``. It is a short
composition: the drivers of one config (``drivers``), the read-only half (``observing``),
the changes (``applying``, with the health gate of ``gate`` and the audit records of
``trail``). Nothing here catches botocore: the drivers' boundary turns AWS failures into
``daemon.errors.AwsCallFailed``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from daemon.adapters.audit import AuditLog
from daemon.adapters.aws import AwsClients
from daemon.core.model import Action, Observed, Plan, Result, VersionInfo
from daemon.drivers.base import Progress, no_progress
from daemon.engine.applying import Applier
from daemon.engine.drivers import DriverSet
from daemon.engine.observing import Observer
from daemon.engine.trail import Trail
from daemon.engine.values import NO_CONTEXT, ApplyContext, Snapshot
from daemon.spec import DesiredState, LoadedConfig


class Engine:
    """Drivers for one config, and the steps of a reconcile over them."""

    def __init__(
        self,
        config: LoadedConfig,
        clients: AwsClients | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.config = config
        self._audit = audit
        concurrency = config.model.daemon.concurrency
        self.clients = clients or AwsClients(
            config.model.aws.region, max_pool=max(32, concurrency * 4)
        )
        self.drivers = DriverSet(config, self.clients)
        self._observer = Observer(self.drivers)
        self._applier = Applier(self.drivers, Trail(audit))

    @property
    def audit(self) -> AuditLog | None:
        """The trail this engine records to, fixed when it is made."""
        return self._audit

    def observe(self, names: Sequence[str]) -> dict[str, Observed]:
        return self._observer.observe(names)

    def snapshot(
        self, desired: DesiredState, only: str | None = None, among: Iterable[str] | None = None
    ) -> Snapshot:
        return self._observer.snapshot(desired, only, among)

    def versions(self, target: str, limit: int) -> list[VersionInfo]:
        return self._observer.versions(target, limit)

    def apply(
        self, plan: Plan, progress: Progress = no_progress, context: ApplyContext = NO_CONTEXT
    ) -> list[Result]:
        return self._applier.apply(plan, progress, context)

    def apply_one(
        self,
        action: Action,
        progress: Progress = no_progress,
        stop: threading.Event | None = None,
        context: ApplyContext = NO_CONTEXT,
    ) -> Result:
        return self._applier.apply_one(action, progress, stop, context)
