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
from typing import Any

EVENTS = (
    "desired_changed",
    "desired_invalid",
    "drift_detected",
    "plan",
    "apply_started",
    "apply_succeeded",
    "apply_failed",
    "blocked",
    "health_failed",
    "suspended",
    "resumed",
    "leader_acquired",
    "leader_lost",
)
GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    """An event to record; the store adds seq, ts, prev_hash and hash."""

    event: str
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


@dataclass(frozen=True)
class Record(Entry):
    seq: int = 0
    ts: str = ""
    controller: str | None = None
    prev_hash: str = GENESIS
    hash: str = ""

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
    return digest_row([values.get(name) for name in HASHED])


def digest_row(row: Sequence[Any]) -> str:
    return hashlib.sha256(_canonical(row).encode()).hexdigest()
