"""A one-shot apply under ``leadership:`` takes its shards' leases like a replica, or refuses.

Replicas fence every change by the epoch of their shard's lease. A ``pinback apply``
from a laptop that ignored the leases would change what a leading replica is changing.
So a local apply (no controller of its files answered, or ``--local``) first takes the
lease of every shard its plan touches, as a replica would: a lease held by a live replica
is a refusal naming the holder; a free or expired one is taken with a new epoch, renewed
every third of the lease while the apply runs, confirmed before every mutating call
(``daemon.core.fencing``), and released at the end so a replica takes over at once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator

import sqlalchemy

from daemon.adapters import environment
from daemon.controller.leadership import LeaseStore, holder_id, namespace_for
from daemon.core import shards
from daemon.errors import ConfigError, Fenced, Refused
from daemon.spec import LoadedConfig


class LeasesFence:
    """``daemon.core.fencing.Fence`` over every lease a one-shot apply holds."""

    def __init__(self, store: LeaseStore, holder: str, epochs: dict[str, int]) -> None:
        self.store, self.holder, self.epochs = store, holder, epochs
        self.lost = threading.Event()

    def confirm(self) -> None:
        if self.lost.is_set():
            raise Fenced("this apply lost its lease (a renew failed); a replica leads now")
        for name, epoch in self.epochs.items():
            try:
                holds = self.store.confirm(name, self.holder, epoch)
            except sqlalchemy.exc.SQLAlchemyError as exc:
                raise Fenced(f"cannot confirm the lease {name}: {exc.__class__.__name__}") from None
            if not holds:
                raise Fenced(f"the lease {name} is no longer this apply's (epoch {epoch})")

    def renew_until(self, done: threading.Event) -> None:
        while not done.wait(self.store.lease_seconds / 3):
            for name, epoch in self.epochs.items():
                try:
                    kept = self.store.renew(name, self.holder, epoch)
                except sqlalchemy.exc.SQLAlchemyError:
                    kept = False
                if not kept:
                    self.lost.set()
                    return


@contextlib.contextmanager
def leases_for(config: LoadedConfig, targets: Iterable[str]) -> Iterator[LeasesFence | None]:
    """The fence of the shards ``targets`` are in, held for the ``with`` block; None
    (nothing to take) without ``leadership:``. ``Refused`` when a replica holds one."""
    settings = config.model.leadership
    if settings is None:
        yield None
        return
    url = environment.named(settings.url_env)
    if not url:
        raise ConfigError(
            f"leadership.urlEnv: the environment variable {settings.url_env} is not set"
        )
    store = LeaseStore(url, settings.lease_seconds)
    assignment = shards.assign(config.model, settings.shards)
    prefix = namespace_for(config.environment)  # the replicas' (``Leadership``'s)
    names = sorted({f"{prefix}:shard:{assignment.get(t, 0)}/{settings.shards}" for t in targets})
    holder = f"pinback apply@{holder_id()}"
    fence = LeasesFence(store, holder, {})
    done = threading.Event()
    try:
        try:
            store.ensure_table()
            taken = [(name, store.acquire(name, holder)) for name in names]
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise Fenced(
                f"cannot take the leases at {store.where}: {exc.__class__.__name__}; "
                "nothing was applied"
            ) from None
        fence.epochs.update({name: epoch for name, epoch in taken if epoch is not None})
        led = [name for name, epoch in taken if epoch is None]
        if led:  # the ones taken are given back on the way out
            who = next((h for n, h, _, _ in store.holders(led[0]) if n == led[0]), "a replica")
            raise Refused(
                f"{led[0]} is led by {who}, a running controller: a local apply would race "
                "it; let the controller apply the pin, or stop it first"
            )
        renewer = threading.Thread(target=fence.renew_until, args=(done,), daemon=True)
        renewer.start()
        yield fence
    finally:
        done.set()
        for name, epoch in fence.epochs.items():
            with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
                store.release(name, holder, epoch)
        store.engine.dispose()
