"""The audit trail: append rate with commits batched per pass, and verifying a million records."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from daemon.adapters.audit import AuditLog
from daemon.core.records import Entry
from tests.bench.common import log

BATCH = 50  # records one pass of a busy controller writes in one commit
APPENDS = 20_000
MILLION = 1_000_000
ROUNDS = 3


def entry(index: int) -> Entry:
    return Entry(
        event="drift_detected" if index % 3 else "apply_succeeded",
        target=f"svc-{index % 2000:04d}",
        kind="ecs",
        desired=str(index % 7 + 1),
        live_before=str(index % 5 + 1),
        actor="Alice <alice@example.com>",
        pin_commit="9f1c2ab" * 5 + "00000",
        correlation_id=f"{index:012x}",
        duration_s=0.25,
    )


def measure() -> dict[str, Any]:
    """Every figure is the median of ``ROUNDS`` runs, each on a fresh database."""
    folder = Path(tempfile.mkdtemp(prefix="pinback-audit-"))
    batched, one_by_one = [], []
    for round_ in range(ROUNDS):
        log(f"audit: {APPENDS} appends in commits of {BATCH}, round {round_ + 1}/{ROUNDS}")
        trail = AuditLog(f"sqlite:///{folder / f'batched-{round_}.db'}")
        started = time.perf_counter()
        for first in range(0, APPENDS, BATCH):
            trail.append([entry(i) for i in range(first, first + BATCH)])
        batched.append(APPENDS / (time.perf_counter() - started))

        single = AuditLog(f"sqlite:///{folder / f'single-{round_}.db'}")
        started = time.perf_counter()
        for index in range(1000):
            single.append([entry(index)])
        one_by_one.append(1000 / (time.perf_counter() - started))

    log(f"audit: writing {MILLION:,} records, then verifying them {ROUNDS} times")
    big = AuditLog(f"sqlite:///{folder / 'million.db'}")
    for first in range(0, MILLION, 10_000):
        big.append([entry(i) for i in range(first, first + 10_000)])
    verify, query = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        count, bad, _ = big.verify()
        verify.append(time.perf_counter() - started)
        assert count == MILLION and bad is None
        started = time.perf_counter()
        recent = big.query(target="svc-0042", event_name="apply_succeeded")
        query.append(time.perf_counter() - started)
    return {
        "rounds": ROUNDS,
        "append_records_per_s_batched_50": round(statistics.median(batched)),
        "append_records_per_s_one_commit_each": round(statistics.median(one_by_one)),
        "verify_1m_records_s": round(statistics.median(verify), 2),
        "query_one_target_one_event_in_1m_s": round(statistics.median(query), 3),
        "query_rows": len(recent),
    }
