"""The engine's values: who an apply is recorded under, and what a plan was made from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from daemon.core.model import Observed, Plan, Resolved


@dataclass(frozen=True)
class ApplyContext:
    """Who and what an apply is recorded under in the audit trail."""

    actor: str | None = None
    pin_commit: str | None = None
    correlation_id: str | None = None
    epoch: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything one plan was made from, kept together for status and the audit."""

    plan: Plan
    observed: Mapping[str, Observed]
    resolved: Mapping[str, Resolved]


NO_CONTEXT = ApplyContext()  # an apply recorded under no actor (library use, benchmarks)
