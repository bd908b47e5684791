"""One reconcile, start to end: observe -> preflight -> plan -> apply -> wait -> verify.

The one-shot CLI and the controller's workers call the same ``Engine``. It is a short
composition: the drivers of one config (``drivers``), the read-only half (``observing``),
the changes (``applying``, with the health gate of ``gate`` and the audit records of
``trail``). Nothing here catches botocore: the drivers' boundary turns AWS failures into
``daemon.errors.AwsCallFailed``.
"""

from __future__ import annotations

from daemon.adapters.audit import AuditLog
from daemon.adapters.aws import AwsClients
from daemon.engine.applying import Applier
from daemon.engine.drivers import DriverSet
from daemon.engine.observing import Observer
from daemon.engine.trail import Trail
from daemon.spec import LoadedConfig


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
        aws = config.model.aws
        self.clients = clients or AwsClients(
            aws.region, max_pool=max(32, concurrency * 4), role_arn=aws.role_arn
        )
        self.drivers = DriverSet(config, self.clients)
        trail = Trail(audit)
        observer = Observer(self.drivers, trail.denials, trail.was_live)
        applier = Applier(self.drivers, trail)
        # The steps of a reconcile, as the CLI and the controller call them.
        self.observe = observer.observe
        self.snapshot = observer.snapshot
        self.versions = observer.versions
        self.readiness = observer.readiness
        self.apply = applier.apply
        self.apply_one = applier.apply_one

    @property
    def audit(self) -> AuditLog | None:
        """The trail this engine records to, fixed when it is made."""
        return self._audit
