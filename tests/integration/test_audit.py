"""The audit trail: tamper-evident, written before every change, attributed, queryable."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy

from daemon.adapters import audit
from daemon.adapters.audit import AuditLog
from daemon.core import chain, records
from daemon.core.records import Entry
from tests.stands.service import COMMITS, TAGS, Aws, Service, pinback


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def filled(url: str, count: int = 5) -> AuditLog:
    log = AuditLog(url)
    log.append(
        [
            Entry(event="desired_changed", target=f"t{i}", desired=str(i), actor="alice")
            for i in range(count)
        ]
    )
    return log


def run_sql(url: str, statements: str) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        for statement in statements.split("; "):
            connection.execute(sqlalchemy.text(statement))
    engine.dispose()


@pytest.mark.parametrize(
    ("tamper", "first_bad", "checked", "why"),
    [
        (
            "UPDATE pinback_audit SET desired = '9' WHERE seq = 3",
            3,
            2,
            "changed after it was written",
        ),
        ("DELETE FROM pinback_audit WHERE seq = 2", 3, 1, "a record is missing"),
        (
            "UPDATE pinback_audit SET seq = 1000 WHERE seq = 2; "
            "UPDATE pinback_audit SET seq = 2 WHERE seq = 3; "
            "UPDATE pinback_audit SET seq = 3 WHERE seq = 1000",
            2,
            1,
            "does not point at the record before it",
        ),
    ],
    ids=["edited", "deleted", "swapped"],
)
@pytest.mark.parametrize("workers", [1, 3], ids=["one-walk", "three-processes"])
def test_tampering_is_found(
    audit_url: str,
    tamper: str,
    first_bad: int,
    checked: int,
    why: str,
    workers: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Editing, deleting or reordering a record breaks the chain at that record; checked in
    spans by three processes (as a long trail is), the answer is the same."""
    monkeypatch.setattr(audit, "SPAN_MIN", 0)  # spans of 1, 2 and 2 records
    log = filled(audit_url)
    assert log.verify(workers) == (5, None, "")
    run_sql(audit_url, tamper)
    count, bad, reason = log.verify(workers)
    assert bad is not None and bad.seq == first_bad and why in reason
    assert count == checked  # the records before it still verify


@pytest.mark.parametrize(
    ("low", "high", "parts", "ranges"),
    [
        (1, 5, 3, [(1, 1), (2, 3), (4, 5)]),
        (1, 2, 8, [(1, 1), (2, 2)]),
        (7, 7, 2, [(7, 7)]),
        (1, 1_000_000, 2, [(1, 500_000), (500_001, 1_000_000)]),
    ],
)
def test_a_trail_splits_into_contiguous_spans(
    low: int, high: int, parts: int, ranges: list[tuple[int, int]]
) -> None:
    assert chain.split(low, high, parts) == ranges


def test_reading_the_trail_does_not_hold_up_appends(tmp_path: Path) -> None:
    """SQLite: a long read (`audit verify` of a big trail) while the controller records. The
    read used to take the write lock, and the controller's append failed after 5 s."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    reader, writer = filled(url), AuditLog(url, "controller")
    with reader._reading() as connection:
        assert connection.execute(sqlalchemy.text("SELECT count(*) FROM pinback_audit")).scalar()
        writer.record("drift_detected", target="backend", desired="3")  # raised before
    assert reader.verify() == (6, None, "")


def test_an_append_waits_out_another_writer(tmp_path: Path) -> None:
    """SQLite: another process holds the write lock for 6 s (a burst of appends from
    `pinback apply --local`, where SQLite's unfair locking can pass one waiter over). The
    controller's append waits and records; it used to give up after SQLite's default 5 s
    ("database is locked", seen in CI with four writer threads)."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    writer = filled(url)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"db = sqlite3.connect({str(tmp_path / 'audit.db')!r}, isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
            "time.sleep(6); db.execute('COMMIT')\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        writer.record("drift_detected", target="backend", desired="3")
    finally:
        holder.wait(timeout=30)
    assert writer.verify() == (6, None, "")


def test_verify_command_names_the_first_bad_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("PINBACK_AUDIT_URL", url)
    filled(url)
    done = pinback("audit", "verify")
    assert done.returncode == 0 and done.stdout.strip() == "ok: 5 records, hash chain intact"
    run_sql(url, "UPDATE pinback_audit SET actor = 'mallory' WHERE seq = 4")
    done = pinback("audit", "verify")
    assert done.returncode == 1
    assert (
        "record 4 was changed after it was written" in done.stderr
        and "Traceback" not in done.stderr
    )


def test_appends_from_two_writers_keep_one_chain(audit_url: str) -> None:
    """Two stores on one database (two replicas), appending at the same time from four
    threads, interleave into one valid chain: the order is decided in the database."""
    first, second = AuditLog(audit_url, "replica-a"), AuditLog(audit_url, "replica-b")

    def write(store: AuditLog, offset: int) -> None:
        for index in range(25):
            store.record("drift_detected", target="backend", desired=str(offset + index))

    writers = [
        threading.Thread(target=write, args=(store, 100 * n))
        for n, store in enumerate([first, second, first, second])
    ]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=60)
    count, bad, _ = first.verify()
    assert (count, bad) == (100, None)
    assert {r.controller for r in first.query()} == {"replica-a", "replica-b"}


def test_apply_is_recorded_before_and_after(service: Service, aws: Aws, tmp_path: Path) -> None:
    """`pinback apply` writes its plan, then apply_started and apply_succeeded, with who and
    which pin commit."""
    pins = service.pins(
        backend=3, frontend={"commit": COMMITS[1][:7], "reason": "INC-231 checkout 500s"}
    )
    done = pinback("apply", "--yes", "--state", str(pins))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in pinback("audit", "-o", "json").stdout.splitlines()]
    backend = [
        (r["event"], r["live_before"], r["desired"], r["live_after"])
        for r in records
        if r["target"] == "backend"
    ]
    assert backend == [
        ("plan", "4", "3", None),
        ("apply_started", "4", "3", None),
        ("apply_succeeded", "4", "3", "3"),
    ]
    frontend = [r for r in records if r["target"] == "frontend"]
    assert all(r["reason"] == "INC-231 checkout 500s" for r in frontend)
    assert all("via pinback apply" in r["actor"] for r in records)
    assert records[-1]["duration_s"] is not None
    assert pinback("audit", "verify").returncode == 0


def test_no_apply_without_an_audit_trail(service: Service, aws: Aws) -> None:
    """When the audit trail cannot be written, nothing is changed."""
    unreachable = "postgresql://audit:s3cr3t-pw@127.0.0.1:1/audit"
    aws.proxy.clear()
    done = pinback(
        "apply",
        "--yes",
        "--state",
        str(service.pins(backend=3)),
        env={"PINBACK_AUDIT_URL": unreachable},
    )
    assert done.returncode == 1
    assert "not applied: cannot write the audit trail" in done.stdout + done.stderr
    assert "s3cr3t-pw" not in done.stdout + done.stderr
    assert aws.proxy.seen("UpdateService") == 0


def test_query_filters_and_report(service: Service, aws: Aws) -> None:
    """`audit --target/--event/--since` narrow the trail; `report` is a Markdown timeline."""
    pinback("apply", "--yes", "--state", str(service.pins(backend=3, ai_worker="v0.0.1")))
    failed = pinback("audit", "--event", "blocked", "--since", "1h", "-o", "json")
    (blocked,) = [json.loads(line) for line in failed.stdout.splitlines()]
    assert blocked["target"] == "ai-worker" and "does not exist" in blocked["error"]
    assert (
        pinback(
            "audit", "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-02T00:00:00Z"
        ).stdout
        == ""
    )
    bad = pinback("audit", "--since", "yesterday")
    assert bad.returncode == 1 and "neither a duration" in bad.stderr
    report = pinback("report", "--since", "1h")
    assert report.returncode == 0
    assert report.stdout.startswith("# pinback incident timeline")
    assert "| backend | 0 | 1 | 0 | 0 |" in report.stdout
    assert "| apply_succeeded | backend | 4 → 3 (now 3) |" in report.stdout


def test_no_secret_is_ever_stored(audit_url: str) -> None:
    """A database URL with a password is stored with the password masked, in every field."""
    log = AuditLog(audit_url)
    log.record(
        "apply_failed",
        target="database",
        error="cannot reach postgresql://app:hunter2@db:5432/app",
        reason="password=hunter2",
    )
    (stored,) = log.query()
    assert "hunter2" not in json.dumps(stored.as_json())
    assert stored.error == "cannot reach postgresql://app:***@db:5432/app"
    assert log.verify()[1] is None


def test_plan_estimates_from_past_applies(service: Service, aws: Aws) -> None:
    """`plan` shows how long a target's change took before: the median and how many it is from."""
    assert pinback("apply", "--yes", "--state", str(service.pins(backend=3))).returncode == 0
    assert pinback("apply", "--yes", "--state", str(service.pins(backend=2))).returncode == 0
    done = pinback("plan", "-o", "json", "--state", str(service.pins(backend=4, ai_worker=TAGS[1])))
    actions = {a["target"]: a for a in json.loads(done.stdout)["actions"]}
    assert (
        actions["backend"]["estimate"]["basedOn"] == 2
        and actions["backend"]["estimate"]["seconds"] >= 0
    )
    assert "estimate" not in actions["ai-worker"]  # never applied: no figure is made up
    text = pinback("plan", "--state", str(service.pins(backend=4))).stdout
    assert "median of 2 past applies" in text


def test_the_hash_rule_never_changes() -> None:
    """Trails written by earlier releases must still verify: the canonical form (a compact JSON
    array, UTF-8 kept) and its SHA-256 are fixed, whichever JSON encoder computes them."""
    row = [
        7,
        "2026-11-27T15:06:05.123456Z",
        "apply_succeeded",
        "백엔드",
        "ecs",
        "3",
        '4"\\',
        None,
        "Ålice 🚀 <a@e>",
        "x\n\t\u0001",
        "",
        "c1",
        0.1,
        None,
        "host",
        2**40,
        "0" * 64,
    ]
    assert records.digest_row(row) == (
        "38c33932b12530bc1582c3b2b25659d5035a291f0ee625235d8286bb97e89f11"
    )
    reference = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    for value in (1e22, 1e-7, 123.0, -0.0, 2**70, "\u2028", "\ud7a3", "\x7f"):
        assert records._canonical([value]) == reference([value])


def test_a_trail_from_before_environments_gains_the_column_and_still_verifies(
    audit_url: str,
) -> None:
    """A trail written before environments (no ``environment`` column) is brought up to
    date on first use; its records keep their hashes; records of an environment are stamped
    with it, hashed with it, and read only through that environment's log."""
    old = filled(audit_url, 3)
    old.close()
    run_sql(audit_url, "ALTER TABLE pinback_audit DROP COLUMN environment")
    staging = AuditLog(audit_url, environment="staging")
    staging.append([Entry(event="desired_changed", target="t0", desired="9")])
    assert staging.verify() == (4, None, "")
    assert [r.desired for r in staging.query()] == ["9"]  # staging's own records only
    everything = AuditLog(audit_url)
    assert [(r.environment, r.desired) for r in everything.query()] == [
        (None, "0"),
        (None, "1"),
        (None, "2"),
        ("staging", "9"),
    ]
    run_sql(audit_url, "UPDATE pinback_audit SET environment = 'prod' WHERE seq = 4")
    checked, bad, why = everything.verify()
    assert (
        checked == 3 and bad is not None and bad.seq == 4 and "changed after it was written" in why
    )
