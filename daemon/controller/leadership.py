"""Leases in PostgreSQL: which replica may change things, under which epoch, until when.

One row per lease (one per shard) holds the holder, an epoch and an expiry. Every
decision about time is the database's (``clock_timestamp()``), so replicas with skewed
clocks agree. A lease is taken by one conditional statement (insert, or take over a row
whose expiry has passed, adding one to the epoch) and renewed by another (only by its
holder, only under its epoch, only before it expired): two replicas can never both
succeed, and no home-made consensus is involved.

The holder's own view is more cautious than the database's: it counts from the moment
it *sent* its last successful renew and gives up ``give_up`` (10 s of 15) later, so a
replica cut off from the database stops applying while its lease still stands, before
anyone else can take over (the client-go defaults: lease 15 s, renew every 5 s, give up
after 10 s without a renew).

With shards, each replica also keeps a member row alive (same table, epoch 0) so every
replica knows how many are up and holds its fair share, ``ceil(shards / replicas)``:
it hands a surplus shard over (expiring its lease) and takes free ones below it.

The epoch is a fencing token: ``ShardFence.confirm`` asks the database, before every
mutating step, whether this holder still has this epoch and it has not expired.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy
from sqlalchemy import text

from daemon.core.redact import redact
from daemon.errors import Fenced

TABLE = """
CREATE TABLE IF NOT EXISTS pinback_leases (
    name        text PRIMARY KEY,
    holder      text NOT NULL,
    epoch       bigint NOT NULL,
    expires_at  timestamptz NOT NULL
)"""
CREATE_LOCK = 0x70696E6C65617365  # "pinlease": replicas starting together create it once

# Take a free or expired lease (the epoch goes up by one), in one statement.
ACQUIRE = """
INSERT INTO pinback_leases AS l (name, holder, epoch, expires_at)
VALUES (:name, :holder, 1, clock_timestamp() + make_interval(secs => :seconds))
ON CONFLICT (name) DO UPDATE
   SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at
 WHERE l.expires_at <= clock_timestamp()
RETURNING epoch"""
RENEW = """
UPDATE pinback_leases
   SET expires_at = clock_timestamp() + make_interval(secs => :seconds)
 WHERE name = :name AND holder = :holder AND epoch = :epoch AND expires_at > clock_timestamp()
RETURNING epoch"""
CONFIRM = """
SELECT 1 FROM pinback_leases
 WHERE name = :name AND holder = :holder AND epoch = :epoch AND expires_at > clock_timestamp()"""
RELEASE = """
UPDATE pinback_leases SET expires_at = clock_timestamp()
 WHERE name = :name AND holder = :holder AND epoch = :epoch"""
# Replicas say they are alive in rows of their own, so each knows its fair share.
ANNOUNCE = """
INSERT INTO pinback_leases AS l (name, holder, epoch, expires_at)
VALUES (:name, :holder, 0, clock_timestamp() + make_interval(secs => :seconds))
ON CONFLICT (name) DO UPDATE SET expires_at = EXCLUDED.expires_at"""
COUNT = """
SELECT count(*) FROM pinback_leases WHERE name LIKE :members AND expires_at > clock_timestamp()"""
FORGET = """
DELETE FROM pinback_leases
 WHERE name LIKE :members AND expires_at < clock_timestamp() - interval '1 hour'"""
HOLDERS = """
SELECT name, holder, epoch, extract(epoch FROM expires_at - clock_timestamp())
  FROM pinback_leases WHERE name LIKE :prefix ORDER BY name"""


def holder_id() -> str:
    """Who this replica is, in the lease row and the audit trail: host, pid, and a nonce
    so a restarted process on the same pid is a new holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaseStore:
    """The SQL of leases, over a small pool of short-timeout connections."""

    def __init__(self, url: str, lease_seconds: float) -> None:
        self.lease_seconds = lease_seconds
        self.where = sqlalchemy.make_url(url).render_as_string(hide_password=True)
        # Short timeouts everywhere: a lease database that stopped answering must turn
        # into errors (and so into giving up) well inside the lease, never into a hang.
        self.engine = sqlalchemy.create_engine(
            url,
            pool_size=4,
            max_overflow=8,
            pool_pre_ping=False,
            connect_args={
                "connect_timeout": 3,
                "keepalives": 1,
                "keepalives_idle": 2,
                "keepalives_interval": 1,
                "keepalives_count": 2,
                "tcp_user_timeout": 3000,
                "options": "-c statement_timeout=3000",
            },
        )

    def ensure_table(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CREATE_LOCK})
            connection.execute(text(TABLE))

    def _one(self, statement: str, **values: object) -> object | None:
        """Run ``statement`` in its own transaction; its one value, if it returns rows.

        (``scalar()`` of an UPDATE or DELETE without RETURNING raises, which rolled the
        release and the leave back: a clean shutdown handed nothing over.)"""
        with self.engine.begin() as connection:
            result = connection.execute(text(statement), values)
            return result.scalar() if result.returns_rows else None

    def acquire(self, name: str, holder: str) -> int | None:
        found = self._one(ACQUIRE, name=name, holder=holder, seconds=self.lease_seconds)
        return int(found) if found is not None else None  # type: ignore[call-overload]

    def renew(self, name: str, holder: str, epoch: int) -> bool:
        found = self._one(RENEW, name=name, holder=holder, epoch=epoch, seconds=self.lease_seconds)
        return found is not None

    def confirm(self, name: str, holder: str, epoch: int) -> bool:
        return self._one(CONFIRM, name=name, holder=holder, epoch=epoch) is not None

    def release(self, name: str, holder: str, epoch: int) -> None:
        self._one(RELEASE, name=name, holder=holder, epoch=epoch)

    def announce(self, member: str, holder: str, members: str) -> int:
        """Mark this replica alive for a lease time; returns how many replicas are."""
        with self.engine.begin() as connection:
            connection.execute(
                text(ANNOUNCE), {"name": member, "holder": holder, "seconds": self.lease_seconds}
            )
            connection.execute(text(FORGET), {"members": members + "%"})
            return int(connection.execute(text(COUNT), {"members": members + "%"}).scalar_one())

    def leave(self, member: str) -> None:
        self._one("DELETE FROM pinback_leases WHERE name = :name", name=member)

    def holders(self, prefix: str) -> list[tuple[str, str, int, float]]:
        with self.engine.connect() as connection:
            rows = connection.execute(text(HOLDERS), {"prefix": prefix + "%"}).all()
        return [(str(n), str(h), int(e), float(s)) for n, h, e, s in rows]


@dataclass
class Held:
    """A lease this replica holds, and when it last knew that for sure."""

    epoch: int
    renewed_at: float  # time.monotonic() when the last successful renew was *sent*


Acquired = Callable[[int, int], None]  # (shard, epoch)
Lost = Callable[[int, int, str], None]  # (shard, epoch, why)


def namespace_for(environment: str | None) -> str:
    """The leases of one environment's controllers: two environments sharing a leadership
    database never take each other's shards."""
    return "pinback" if environment is None else f"pinback/{environment}"


class Leadership:
    """This replica's side of the leases: take free shards, keep the held ones, give up
    in time. Runs in its own thread; the controller asks ``epoch(shard)`` and ``fence``."""

    def __init__(
        self,
        store: LeaseStore,
        shards: int,
        on_acquired: Acquired,
        on_lost: Lost,
        holder: str | None = None,
        namespace: str = "pinback",
    ) -> None:
        self.store = store
        self.shards = shards
        self.holder = holder or holder_id()
        self.prefix = f"{namespace}:"
        self.lease = store.lease_seconds
        self.renew_every = self.lease / 3
        self.give_up = self.lease * 2 / 3
        self.retry_every = min(1.0, self.renew_every)
        self.on_acquired = on_acquired
        self.on_lost = on_lost
        self.held: dict[int, Held] = {}
        self.last_error: str | None = None
        self._table_ready = False
        self._fair = 1  # shards this replica should hold, from the last count of replicas
        self._lock = threading.Lock()

    def name(self, shard: int) -> str:
        return f"{self.prefix}shard:{shard}/{self.shards}"

    @property
    def member(self) -> str:
        return f"{self.prefix}member:{self.holder}"

    # -- what the controller asks ------------------------------------------------------

    def epoch(self, shard: int) -> int | None:
        """The epoch under which this replica may change the shard's targets, or None.

        Local and cautious: once ``give_up`` has passed since the last renew that
        succeeded, the answer is None even before the loop has noticed."""
        with self._lock:
            held = self.held.get(shard)
        if held is None or time.monotonic() - held.renewed_at >= self.give_up:
            return None
        return held.epoch

    def leads_any(self) -> bool:
        return any(self.epoch(s) is not None for s in range(self.shards))

    def fence(self, shard: int, epoch: int) -> ShardFence:
        return ShardFence(self, shard, epoch)

    # -- the loop ------------------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        """Take and keep leases until ``stopping`` (the controller releases them after
        its applies have ended: ``release_all``)."""
        while not stopping.is_set():
            try:
                failing = self.step()
            except Exception as exc:  # the loop must outlive any surprise, or leases lapse
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                failing = True
            wait = self.retry_every if failing else self._next_wait()
            stopping.wait(min(wait, self._until_give_up()))

    def _until_give_up(self) -> float:
        """Seconds until the first held lease must be given up, so losing one is noticed
        on time rather than at the next round."""
        with self._lock:
            renewed = [h.renewed_at for h in self.held.values()]
        if not renewed:
            return self.renew_every
        return max(0.01, min(renewed) + self.give_up - time.monotonic())

    def _next_wait(self) -> float:
        with self._lock:
            renewed = [h.renewed_at for h in self.held.values()]
        if len(renewed) < self._fair:  # a standby tries every second, so failover is quick
            return self.retry_every
        due = min(renewed) + self.renew_every - time.monotonic()
        return max(0.05, min(self.renew_every, due))

    def step(self) -> bool:
        """One round: say this replica is alive, renew what it holds, give up what it could
        not renew in time, then take or hand over shards towards its fair share. True when
        a database call failed (the loop retries sooner)."""
        try:
            if not self._table_ready:
                self.store.ensure_table()
                self._table_ready = True
            replicas = self.store.announce(self.member, self.holder, self.prefix + "member:")
        except sqlalchemy.exc.SQLAlchemyError as exc:
            self._failed(exc)
            replicas = None
        failing = replicas is None
        with self._lock:
            held = dict(self.held)
        for shard, lease in held.items():
            sent = time.monotonic()
            if sent - lease.renewed_at >= self.renew_every - 0.05:
                try:
                    if self.store.renew(self.name(shard), self.holder, lease.epoch):
                        with self._lock:
                            lease.renewed_at = sent
                    else:
                        self._lose(shard, lease, "the lease was taken over or had expired")
                except sqlalchemy.exc.SQLAlchemyError as exc:
                    self._failed(exc)
                    failing = True
            if time.monotonic() - lease.renewed_at >= self.give_up:
                self._lose(shard, lease, self.last_error or "no renew succeeded in time")
        if replicas is not None and not failing:
            failing = self._balance(-(-self.shards // max(1, replicas)))
        if not failing:
            self.last_error = None
        return failing

    def _balance(self, fair: int) -> bool:
        """Hold ``fair`` shards (shards / live replicas, rounded up): hand over one above
        it, take free ones below it. A single shard always has fair share 1."""
        self._fair = fair
        with self._lock:
            held = dict(self.held)
        if len(held) > fair:
            shard = max(held)
            with self._lock:
                del self.held[shard]
            with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):  # else it expires
                self.store.release(self.name(shard), self.holder, held[shard].epoch)
            self.on_lost(shard, held[shard].epoch, f"handed over: {fair} shards each is fair")
            return False
        for shard in range(self.shards):
            if len(held) >= fair:
                break
            if shard in held:
                continue
            sent = time.monotonic()
            try:
                epoch = self.store.acquire(self.name(shard), self.holder)
            except sqlalchemy.exc.SQLAlchemyError as exc:
                self._failed(exc)
                return True
            if epoch is not None:
                held[shard] = Held(epoch, sent)
                with self._lock:
                    self.held[shard] = held[shard]
                self.on_acquired(shard, epoch)
        return False

    def _failed(self, exc: BaseException) -> None:
        self.last_error = f"the lease database at {self.store.where} failed: {_first_line(exc)}"

    def _lose(self, shard: int, held: Held, why: str) -> None:
        with self._lock:
            if self.held.get(shard) is not held:
                return
            del self.held[shard]
        self.on_lost(shard, held.epoch, why)

    def release_all(self) -> None:
        """On a clean shutdown: expire the held leases now, so another replica takes over
        at its next try instead of after the lease time."""
        with self._lock:
            held, self.held = dict(self.held), {}
        for shard, lease in held.items():
            with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):  # else it expires
                self.store.release(self.name(shard), self.holder, lease.epoch)
            self.on_lost(shard, lease.epoch, "released at shutdown")
        with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
            self.store.leave(self.member)

    def holders(self) -> list[dict[str, object]]:
        """Every shard's lease as the database has it, for ``/status``."""
        rows = {n: (h, e, s) for n, h, e, s in self.store.holders(self.prefix + "shard:")}
        found: list[dict[str, object]] = []
        for shard in range(self.shards):
            holder, epoch, left = rows.get(self.name(shard), (None, None, None))
            found.append(
                {
                    "shard": shard,
                    "holder": holder if left is not None and left > 0 else None,
                    "epoch": epoch,
                    "mine": self.epoch(shard) is not None,
                }
            )
        return found


class ShardFence:
    """``daemon.core.fencing.Fence`` for one shard under one epoch."""

    def __init__(self, leadership: Leadership, shard: int, epoch: int) -> None:
        self.leadership, self.shard, self.epoch = leadership, shard, epoch

    def confirm(self) -> None:
        leadership = self.leadership
        if leadership.epoch(self.shard) != self.epoch:
            raise Fenced(f"this replica no longer leads shard {self.shard} (epoch {self.epoch})")
        try:
            holds = leadership.store.confirm(
                leadership.name(self.shard), leadership.holder, self.epoch
            )
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise Fenced(
                f"cannot confirm the lease of shard {self.shard} (epoch {self.epoch}): "
                f"{_first_line(exc)}"
            ) from None
        if not holds:
            raise Fenced(f"the lease of shard {self.shard} is no longer epoch {self.epoch}")


def _first_line(exc: BaseException) -> str:
    message = redact(str(getattr(exc, "orig", None) or exc))
    return message.strip().splitlines()[0] if message.strip() else exc.__class__.__name__
