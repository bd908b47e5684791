"""The audit trail: append rate with commits batched per pass, and verifying a million records,
alone and against a week of audit anchors."""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from daemon.adapters.anchors import AnchorStore, check
from daemon.adapters.audit import AuditLog
from daemon.adapters.aws import AwsClients
from daemon.core.anchors import Anchor
from daemon.core.records import Entry
from daemon.devtools import sandbox
from daemon.spec import AnchorSettings
from tests.bench.common import log, moto_elsewhere

BATCH = 50  # records one pass of a busy controller writes in one commit
APPENDS = 20_000
MILLION = 1_000_000
ROUNDS = 3
ANCHORS = 2016  # a week of anchors at the default audit.anchor.every of 5m


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
    with_anchors, anchors_alone = anchored_verify(big)
    return {
        "rounds": ROUNDS,
        "append_records_per_s_batched_50": round(statistics.median(batched)),
        "append_records_per_s_one_commit_each": round(statistics.median(one_by_one)),
        "verify_1m_records_s": round(statistics.median(verify), 2),
        "query_one_target_one_event_in_1m_s": round(statistics.median(query), 3),
        "query_rows": len(recent),
        "anchors": ANCHORS,
        "verify_1m_records_with_anchors_s": round(statistics.median(with_anchors), 2),
        "anchors_list_and_check_s": round(statistics.median(anchors_alone), 2),
    }


def anchored_verify(big: AuditLog) -> tuple[list[float], list[float]]:
    """``pinback audit verify``'s work with anchors: a week of them at the default 5m
    (``ANCHORS``, real objects in a locked bucket of moto, in a process of its own) listed,
    the chain verified, every anchor checked against it. Returns the whole and the anchors'
    share, ``ROUNDS`` times each."""
    settings = AnchorSettings(bucket="bench-anchors")
    with moto_elsewhere() as endpoint:
        sandbox.environment(
            {
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_MAX_ATTEMPTS": "3",
            }
        )
        sandbox.seed_anchor_bucket(endpoint, settings.bucket)
        store = AnchorStore(settings, AwsClients(sandbox.REGION, endpoint_url=endpoint))
        log(f"audit: writing {ANCHORS:,} anchors of the million-record trail")
        seqs = [MILLION * (i + 1) // ANCHORS for i in range(ANCHORS)]
        hashes = big.hashes(seqs)
        start = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
        for index, seq in enumerate(seqs):
            moment = start + dt.timedelta(minutes=5 * index)
            store.write(Anchor(seq, hashes[seq], moment), "bench")
        whole, alone = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            anchors = store.listed()
            count, bad, _ = big.verify()
            verdict = check(big, anchors)
            whole.append(time.perf_counter() - started)
            assert count == MILLION and bad is None and verdict.problem is None
            assert verdict.checked == ANCHORS
            started = time.perf_counter()
            check(big, store.listed())
            alone.append(time.perf_counter() - started)
    return whole, alone
