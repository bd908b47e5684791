"""The audit table and how pinback talks to its database: the columns, the SQLite
connection rules that keep one chain with several writers, and bringing a trail made by an
earlier pinback up to the columns of this one. ``daemon.adapters.audit`` reads and writes it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Connection, Engine

metadata = MetaData()
records = Table(
    "pinback_audit",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", String(32), nullable=False),
    Column("event", String(32), nullable=False),
    Column("target", String(128)),
    Column("kind", String(16)),
    Column("desired", Text),
    Column("live_before", Text),
    Column("live_after", Text),
    Column("actor", Text),
    Column("pin_commit", String(64)),
    Column("reason", Text),
    Column("correlation_id", String(64)),
    Column("duration_s", Float),
    Column("error", Text),
    Column("controller", String(256)),
    Column("epoch", BigInteger),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("environment", String(64)),
    Index("ix_pinback_audit_ts", "ts"),
    Index("ix_pinback_audit_target_ts", "target", "ts"),
    Index("ix_pinback_audit_event_ts", "event", "ts"),
)


def immediate_transactions(engine: Engine) -> None:
    """SQLite: take the write lock at BEGIN, so two writers never read the same chain end."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        # WAL: a commit is one fsync of the log (still durable), and readers never block
        # the writer.
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        reading = connection.get_execution_options().get("pinback_read")
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def add_missing_columns(connection: Connection) -> None:
    """A trail made by an earlier pinback gains the columns added since (nullable: its
    records keep their values and their hashes)."""
    present = {c["name"] for c in inspect(connection).get_columns(records.name)}
    for column in records.columns:
        if column.name not in present:
            kind = column.type.compile(dialect=connection.dialect)
            connection.execute(text(f"ALTER TABLE {records.name} ADD COLUMN {column.name} {kind}"))
