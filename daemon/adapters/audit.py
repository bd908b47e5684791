"""The audit trail: one append-only, hash-chained record per event, in SQL.

Each record stores the SHA-256 of its canonical form, which includes the previous
record's hash, so editing, deleting or reordering any record breaks the chain at that
point and ``verify`` names it. Appends are serialised in the database, not in process
memory (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on
PostgreSQL), so several writers keep one valid chain. A record is committed before
``append`` returns: ``apply_started`` is durable before the first mutating call.

SQLite by default, PostgreSQL when ``audit.url`` says so (needed for several replicas).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from sqlalchemy import (
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from daemon.adapters import environment
from daemon.adapters.audit_table import (
    add_missing_columns,
    immediate_transactions,
    metadata,
    records,
)
from daemon.core import chain
from daemon.core.records import GENESIS, HASHED, OPTIONAL_HASHED, Entry, Event, Record, digest
from daemon.core.redact import redact
from daemon.errors import AuditUnavailable
from daemon.spec import LoadedConfig

APPEND_LOCK = 0x70696E61756474  # "pinaudt"
SPAN_MIN = 200_000  # below this many records one process verifies sooner than starting more
VERIFY_WORKERS = 8  # at most; each one imports SQLAlchemy and holds a database connection
# SQLite: how long an append waits for another writer's lock before the store counts as
# unavailable. SQLite's locks are not fair: under a burst of appends from two processes (a
# controller and `pinback apply --local`, or two test replicas) one waiter can be passed over
# for seconds, and its default 5 s made the controller refuse to act over a lock it would
# have got a moment later.
SQLITE_LOCK_WAIT_S = 30.0


def audit_url(config: LoadedConfig) -> str:
    """Where the audit trail lives: ``PINBACK_AUDIT_URL``, else ``audit.urlEnv``'s
    variable, else ``audit.url``, else ``.pinback/audit.db`` beside the config."""
    settings = config.model.audit
    url = environment.named(environment.AUDIT_URL)
    if not url and settings.url_env:
        url = environment.required(settings.url_env, "audit.urlEnv")
    return url or settings.url or "sqlite:///.pinback/audit.db"


def identity() -> str:
    """Who is writing: host and process, so records from several replicas can be told apart."""
    return f"{socket.gethostname()}:{os.getpid()}"


def trail_for(config: LoadedConfig) -> AuditLog:
    """The audit trail of ``config``, seen from its environment when it is one's view."""
    return AuditLog(resolve_url(audit_url(config), config.base_dir), environment=config.environment)


def resolve_url(url: str, base: Path) -> str:
    """A relative SQLite path resolves against the config's folder, like every path."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            path = (base / path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


ENSURE_ATTEMPTS = 5  # creating the table when another connection is creating it too


class AuditLog:
    """One trail. With ``environment``, what this log appends is stamped with it and what it
    reads about targets is that environment's (several environments share one chain);
    without, it reads the whole trail."""

    def __init__(
        self, url: str, controller: str | None = None, environment: str | None = None
    ) -> None:
        self.url = url
        self.controller = controller or identity()
        self.environment = environment
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        args: dict[str, Any] = (
            {"connect_timeout": 5}
            if self.backend == "postgresql"
            else {"timeout": SQLITE_LOCK_WAIT_S}
        )
        self.engine: Engine = create_engine(url, poolclass=NullPool, connect_args=args)
        if self.backend == "sqlite":
            immediate_transactions(self.engine)
        self._ready = False
        self.listeners: list[Callable[[Record], None]] = []

    def missing(self) -> bool:
        """A SQLite trail never written: a command reading it on the side (``versions``,
        ``rollback --steps``) reads nothing rather than leave an empty database behind."""
        database = make_url(self.url).database
        if self.backend != "sqlite" or not database or database == ":memory:":
            return False
        return not Path(database).exists()

    def _ensure(self) -> None:
        if self._ready:
            return
        # Replicas (and threads) starting together would race to create the table, and
        # PostgreSQL answers the loser with a duplicate-key error: create under a lock.
        for attempt in range(ENSURE_ATTEMPTS):
            try:
                with self._guard(), self.engine.begin() as connection:
                    if self.backend == "postgresql":
                        connection.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK}
                        )
                    metadata.create_all(connection)
                    add_missing_columns(connection)
                break
            except AuditUnavailable as exc:
                # SQLite: two first connections to a new file race to switch it to WAL,
                # and the loser is told "database is locked" at once, without the busy
                # wait; a moment later the file is in WAL and the table is there.
                if "locked" not in str(exc) or attempt == ENSURE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        self._ready = True

    def _scoped(self, query: Any) -> Any:
        """``query`` limited to this log's environment, when it has one."""
        if self.environment is None:
            return query
        return query.where(records.c.environment == self.environment)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Every database failure leaves this class as ``AuditUnavailable``, password masked."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise AuditUnavailable(
                f"cannot write the audit trail ({redact(self.url)}): {_first_line(exc)}"
            ) from None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reading. On SQLite its transaction is a plain (deferred) BEGIN:
        a long read (``audit verify``, a report) must not hold the write lock that every
        append of a running controller needs."""
        with self._guard(), self.engine.connect() as connection:
            yield connection.execution_options(pinback_read=True)

    def append(self, entries: Sequence[Entry]) -> list[Record]:
        """Record ``entries`` in order, committed before returning; one transaction for all."""
        if not entries:
            return []
        self._ensure()
        with self._guard(), self.engine.begin() as connection:
            if self.backend == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK})
            last = connection.execute(
                select(records.c.seq, records.c.hash).order_by(records.c.seq.desc()).limit(1)
            ).first()
            seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
            written = []
            for entry in entries:
                seq += 1
                if entry.environment is None and self.environment is not None:
                    entry = replace(entry, environment=self.environment)
                values = {
                    **{k: _clean(v) for k, v in asdict(entry).items()},
                    "seq": seq,
                    "ts": _now(),
                    "controller": self.controller,
                    "prev_hash": prev,
                }
                values["hash"] = prev = digest(values)
                written.append(Record(**values))
            connection.execute(records.insert(), [r.as_json() for r in written])
        for record in written:  # committed: now tell whoever listens (notifications)
            for listener in self.listeners:
                listener(record)
        return written

    def record(self, event_name: Event, **values: Any) -> Record:
        return self.append([Entry(event=event_name, **values)])[0]

    def query(
        self,
        target: str | None = None,
        event_name: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int | None = None,
        events: Sequence[str] | None = None,
    ) -> list[Record]:
        """Records oldest first, filtered (``events``: any of them); with ``limit``, the
        newest ``limit`` of them."""
        self._ensure()
        query = self._scoped(select(records))
        if target:
            query = query.where(records.c.target == target)
        if event_name:
            query = query.where(records.c.event == event_name)
        if events is not None:
            query = query.where(records.c.event.in_(list(events)))
        if since:
            query = query.where(records.c.ts >= _stamp(since))
        if until:
            query = query.where(records.c.ts <= _stamp(until))
        if limit:
            query = query.order_by(records.c.seq.desc()).limit(limit)
        else:
            query = query.order_by(records.c.seq)
        with self._reading() as connection:
            found = [Record(**row._mapping) for row in connection.execute(query)]
        return sorted(found, key=lambda r: r.seq) if limit else found

    def latest(self, events: Sequence[str]) -> dict[str, Record]:
        """Per target, its newest record among ``events``."""
        self._ensure()
        last = (
            self._scoped(select(records.c.target, func.max(records.c.seq).label("seq")))
            .where(records.c.event.in_(events))
            .group_by(records.c.target)
            .subquery()
        )
        query = select(records).join(last, records.c.seq == last.c.seq)
        with self._reading() as connection:
            found = [Record(**row._mapping) for row in connection.execute(query)]
        return {r.target: r for r in found if r.target}

    def recent_durations(
        self, targets: Iterable[str] | None = None, per_target: int = 20
    ) -> dict[str, list[float]]:
        """Per target, the durations of its last ``per_target`` successful applies, oldest
        first: one query (a window over each target's applies), whatever the fleet size."""
        self._ensure()
        ranked = select(
            records.c.target,
            records.c.seq,
            records.c.duration_s,
            func.row_number()
            .over(partition_by=records.c.target, order_by=records.c.seq.desc())
            .label("recent"),
        ).where(records.c.event == Event.APPLY_SUCCEEDED, records.c.duration_s.is_not(None))
        if targets is not None:
            ranked = ranked.where(records.c.target.in_(list(targets)))
        inner = self._scoped(ranked).subquery()
        query = (
            select(inner.c.target, inner.c.duration_s)
            .where(inner.c.recent <= per_target)
            .order_by(inner.c.seq)
        )
        found: dict[str, list[float]] = {}
        with self._reading() as connection:
            for target, seconds in connection.execute(query):
                found.setdefault(str(target), []).append(float(seconds))
        return found

    def history(self, target: str, events: Sequence[str], limit: int = 200) -> list[Record]:
        """One target's newest ``limit`` records among ``events``, newest first."""
        self._ensure()
        query = (
            self._scoped(select(records))
            .where(records.c.target == target, records.c.event.in_(events))
            .order_by(records.c.seq.desc())
            .limit(limit)
        )
        with self._reading() as connection:
            return [Record(**row._mapping) for row in connection.execute(query)]

    def head(self) -> tuple[int, str]:
        """The whole chain's last record, (seq, hash); (0, the genesis hash) when empty."""
        self._ensure()
        with self._reading() as connection:
            last = connection.execute(
                select(records.c.seq, records.c.hash).order_by(records.c.seq.desc()).limit(1)
            ).first()
        return (int(last[0]), str(last[1])) if last else (0, GENESIS)

    def hashes(self, seqs: Iterable[int]) -> dict[int, str]:
        """The stored hash of each record of ``seqs`` that exists (anchors are checked with
        it): a query per thousand, whatever the trail's length."""
        self._ensure()
        wanted = sorted(set(seqs))
        found: dict[int, str] = {}
        with self._reading() as connection:
            for start in range(0, len(wanted), 1000):
                chunk = wanted[start : start + 1000]
                query = select(records.c.seq, records.c.hash).where(records.c.seq.in_(chunk))
                found.update({int(seq): str(hash_) for seq, hash_ in connection.execute(query)})
        return found

    def open_starts(self) -> dict[str, Record]:
        """Targets whose last apply record is ``apply_started``: a controller died mid-apply.

        A change whose gate failed ends in ``health_failed`` rather than ``apply_succeeded``.
        """
        last = self.latest(
            (Event.APPLY_STARTED, Event.APPLY_SUCCEEDED, Event.APPLY_FAILED, Event.HEALTH_FAILED)
        )
        return {target: r for target, r in last.items() if r.event == Event.APPLY_STARTED}

    def verify(self, workers: int | None = None) -> tuple[int, Record | None, str]:
        """Walk the whole chain: (records checked, first bad record or None, why).

        A long trail is checked in spans, one process per core (``workers``), and the
        spans joined (``daemon.core.chain``): reading rows and hashing them is CPU work that
        threads would take turns at. What is appended meanwhile is left for the next run.
        """
        self._ensure()
        with self._reading() as connection:
            low, high = connection.execute(
                select(func.min(records.c.seq), func.max(records.c.seq))
            ).one()
        if low is None:
            return 0, None, ""
        parts = workers if workers is not None else min(os.cpu_count() or 1, VERIFY_WORKERS)
        ranges = chain.split(int(low), int(high), parts if high - low >= SPAN_MIN else 1)
        if len(ranges) == 1:
            spans = [self._check_span(*ranges[0])]
        else:
            spawn = multiprocessing.get_context("spawn")  # no fork of a threaded caller
            with ProcessPoolExecutor(len(ranges), mp_context=spawn) as pool:
                lows, highs = [r[0] for r in ranges], [r[1] for r in ranges]
                spans = list(pool.map(check_span, [self.url] * len(ranges), lows, highs))
        count, problem = chain.join(spans)
        if problem is None:
            return count, None, ""
        return count, self._one(problem[0]), problem[1]

    def _check_span(self, low: int, high: int) -> chain.Span:
        """Check the records ``low..high`` among themselves, streaming them."""
        with self._reading() as connection:
            rows = connection.execution_options(stream_results=True, yield_per=20_000).execute(
                select(records.c.hash, *[records.c[n] for n in (*HASHED, *OPTIONAL_HASHED)])
                .where(records.c.seq.between(low, high))
                .order_by(records.c.seq)
            )
            return chain.check_rows(row for part in rows.partitions() for row in part)

    def _one(self, seq: int) -> Record:
        with self._reading() as connection:
            row = connection.execute(select(records).where(records.c.seq == seq)).one()
        return Record(**row._mapping)

    def close(self) -> None:
        self.engine.dispose()


def check_span(url: str, low: int, high: int) -> chain.Span:
    """``AuditLog._check_span`` in a worker process, which has only the URL."""
    trail = AuditLog(url)
    try:
        return trail._check_span(low, high)
    finally:
        trail.close()


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def _now() -> str:
    return _stamp(dt.datetime.now(dt.UTC))


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return redact(text_.splitlines()[0]) if text_ else exc.__class__.__name__
