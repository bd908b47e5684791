"""Audit records as values, and their canonical hash: no database here.

Kept apart from the store (``daemon.adapters.audit``) so the report and the tests can work
with records without SQLAlchemy, and so the hashing rule lives in one short place:
the SHA-256 of the hashed fields, in ``HASHED`` order, as a compact JSON array.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any


class Event(StrEnum):
    """What an audit record says happened (DESIGN.md's audit events). The same names are the
    log events of the same moments. A record read back from a trail written by a newer
    pinback keeps an event this version does not know as plain text."""

    DESIRED_CHANGED = "desired_changed"
    DESIRED_INVALID = "desired_invalid"
    DRIFT_DETECTED = "drift_detected"
    PLAN = "plan"
    APPLY_STARTED = "apply_started"
    APPLY_SUCCEEDED = "apply_succeeded"
    APPLY_FAILED = "apply_failed"
    BLOCKED = "blocked"
    HEALTH_FAILED = "health_failed"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    LEADER_ACQUIRED = "leader_acquired"
    LEADER_LOST = "leader_lost"
    DENIED = "denied"  # a version added to a target's deny: list (desired names it)
    PROMOTED = "promoted"  # a version written into this environment's pins from another


EVENTS = tuple(event.value for event in Event)
GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    """An event to record; the store adds seq, ts, prev_hash and hash."""

    event: Event
    target: str | None = None
    kind: str | None = None
    desired: str | None = None
    live_before: str | None = None
    live_after: str | None = None
    actor: str | None = None
    pin_commit: str | None = None
    reason: str | None = None
    correlation_id: str | None = None
    duration_s: float | None = None
    error: str | None = None
    epoch: int | None = None
    environment: str | None = None  # the environment of the target (None: config has none)

    @property
    def place(self) -> str | None:
        """The target as people name it across environments: ``prod/backend``."""
        if not self.target:
            return None
        return f"{self.environment}/{self.target}" if self.environment else self.target


@dataclass(frozen=True)
class Record(Entry):
    seq: int = 0
    ts: str = ""
    controller: str | None = None
    prev_hash: str = GENESIS
    hash: str = ""

    def __post_init__(self) -> None:
        # Read back from a database, the event is text: make it the member it names.
        known = Event._value2member_map_.get(self.event)
        if known is not None and known is not self.event:
            object.__setattr__(self, "event", known)

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


HASHED = (
    "seq",
    "ts",
    "event",
    "target",
    "kind",
    "desired",
    "live_before",
    "live_after",
    "actor",
    "pin_commit",
    "reason",
    "correlation_id",
    "duration_s",
    "error",
    "controller",
    "epoch",
    "prev_hash",
)
# Hashed after the fields above, each as [name, value], only when set: a record without them
# (every record written before environments existed) hashes exactly as it did.
OPTIONAL_HASHED = ("environment",)


_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# JSONEncoder.encode builds a new C encoder on every call; verifying a million records
# spends more time on that than on SHA-256. The C encoder built once, with exactly the
# settings above, gives the same text; where the interpreter has none, encode() is used.
_make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encoder: Callable[[Sequence[Any], int], tuple[str, ...]] | None = (
    _make_c_encoder(None, None, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    if _make_c_encoder is not None
    else None
)


def _canonical(row: Sequence[Any]) -> str:
    if _c_encoder is None:
        return _encoder.encode(row)
    return "".join(_c_encoder(row, 0))


def digest(values: dict[str, Any]) -> str:
    """SHA-256 of the canonical form: the hashed fields, in a fixed order, as a JSON array."""
    return digest_row(
        [values.get(name) for name in HASHED], [values.get(name) for name in OPTIONAL_HASHED]
    )


def digest_row(row: Sequence[Any], optional: Sequence[Any] = ()) -> str:
    """``row``: the ``HASHED`` values in order; ``optional``: the ``OPTIONAL_HASHED`` ones."""
    if any(value is not None for value in optional):
        named = [[n, v] for n, v in zip(OPTIONAL_HASHED, optional, strict=True) if v is not None]
        row = [*row, *named]
    return hashlib.sha256(_canonical(row).encode()).hexdigest()
