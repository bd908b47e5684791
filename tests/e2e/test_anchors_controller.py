"""``pinback run`` anchoring its audit trail (DESIGN section 12) in a real Object Lock bucket
in moto: at the interval, at shutdown, and never in the way of an apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.adapters.audit import AuditLog
from daemon.core.anchors import Anchor, parse_key
from daemon.devtools import sandbox
from tests.e2e.test_ha import LEASE, leaders, one, replica
from tests.stands.daemon_process import Daemon
from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, config_copy, pinback
from tests.stands.waiting import eventually

BUCKET = "leh-audit-anchors"
PREFIX = "pinback/anchors/"


def anchored(folder: Path, every: str, append: str = "") -> Path:
    block = f"  anchor: {{bucket: {BUCKET}, prefix: {PREFIX}, every: {every}}}\n"
    url = "  url: sqlite:///../.sandbox/audit.db\n"
    replace = {url: url + block, "resyncInterval: 30s": "resyncInterval: 1s"}
    return config_copy(folder, replace, append)


@pytest.fixture
def bucket(aws: Aws) -> None:
    sandbox.seed_anchor_bucket(aws.moto, BUCKET)


def anchors(aws: Aws) -> list[Anchor]:
    listed = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)  # type: ignore[attr-defined]
    found = [parse_key(PREFIX, item["Key"]) for item in listed.get("Contents", [])]
    return [a for a in found if a is not None]


def backend_to(service: Service, revision: int) -> Path:
    return service.pins(
        frontend=COMMITS[-1][:7], backend=revision, ai_worker=TAGS[-1], database=REVISIONS[-1]
    )


def test_anchors_are_written_every_interval_and_shown(
    service: Service, aws: Aws, tmp_path: Path, bucket: None
) -> None:
    """``every: 1s``: anchors accumulate; the age is on /metrics, the last one on /status
    and on the page."""
    daemon = Daemon.on(anchored(tmp_path, "1s"), service.current_pins())
    eventually(lambda: len(anchors(aws)) >= 3, timeout=30, what="three anchors")
    age = daemon.metric("pinback_audit_anchor_age_seconds", bucket=BUCKET)
    assert age is not None and 0 <= age < 30
    assert (daemon.metric("pinback_audit_anchors_total", result="written") or 0) >= 3
    status = json.loads(daemon.get("/status")[1])["auditAnchor"]
    assert status["writer"] is True and status["where"] == f"s3://{BUCKET}/{PREFIX}"
    assert status["seq"] >= 1 and "lastError" not in status
    assert f"audit trail anchored at {status['lastWritten']}" in daemon.get("/")[1]
    assert daemon.stop() == 0


def test_the_last_anchor_is_written_at_shutdown(
    service: Service, aws: Aws, tmp_path: Path, bucket: None
) -> None:
    """``every: 1h``: one anchor at start; a rollback appends records; SIGTERM writes one more
    covering the trail's last record, and ``audit verify`` checks the trail against both."""
    config = anchored(tmp_path, "1h")
    daemon = Daemon.on(config, service.current_pins())
    eventually(lambda: len(anchors(aws)) == 1, timeout=30, what="the first anchor")
    backend_to(service, 3)
    eventually(
        lambda: daemon.event("apply_succeeded", lambda e: e.get("target") == "backend"),
        timeout=60,
        what="the rollback",
    )
    assert len(anchors(aws)) == 1  # not before the interval
    assert daemon.stop() == 0
    first, last = anchors(aws)
    trail = AuditLog(f"sqlite:///{tmp_path / 'audit.db'}")
    assert (last.seq, last.hash) == trail.head() and last.seq > first.seq
    done = pinback("audit", "--config", str(config), "verify")
    assert done.returncode == 0 and "2 anchors agree" in done.stdout, done.stdout + done.stderr


def test_a_bucket_that_hangs_delays_no_apply(
    service: Service, aws: Aws, tmp_path: Path, bucket: None
) -> None:
    """Every anchor write to the bucket is held unanswered (S3 unreachable mid-incident): a
    rollback is applied all the same while the writes hang; the failures are logged,
    counted and on /status; SIGTERM still ends in time."""
    daemon = Daemon.on(anchored(tmp_path, "1s"), service.current_pins())
    aws.proxy.add(f"PUT /{BUCKET}/", "hold-before", count=-1)
    eventually(lambda: aws.proxy.holding, timeout=30, what="an anchor write held")
    backend_to(service, 3)
    eventually(
        lambda: daemon.event("apply_succeeded", lambda e: e.get("target") == "backend"),
        timeout=60,
        what="the rollback, with the bucket hanging",
    )
    eventually(lambda: daemon.event("anchor_failed"), timeout=60, what="anchor_failed logged")
    assert (daemon.metric("pinback_audit_anchors_total", result="failed") or 0) >= 1
    assert "lastError" in json.loads(daemon.get("/status")[1])["auditAnchor"]
    assert daemon.stop() == 0
    aws.proxy.release()


def test_of_two_replicas_the_leader_anchors_and_its_successor_takes_over(
    service: Service, aws: Aws, tmp_path: Path, bucket: None, pg_url: str
) -> None:
    """One anchor per interval, not one per replica: the leader writes them and the follower
    none (nor has it the age series, so the stale alert reads the writer); once the leader
    stops, the replica that takes its lease writes them."""
    leadership = f"leadership: {{urlEnv: PINBACK_LEADER_URL, leaseSeconds: {LEASE}}}\n"
    config = anchored(tmp_path, "1s", append=leadership)
    pins = service.current_pins()
    replicas = [replica(config, pins, pg_url, pg_url) for _ in range(2)]
    leader = eventually(lambda: one(leaders(replicas)), timeout=60, what="one leader")
    (follower,) = [r for r in replicas if r is not leader]

    def written(daemon: Daemon) -> float:
        return daemon.metric("pinback_audit_anchors_total", result="written") or 0

    eventually(lambda: written(leader) >= 3, timeout=30, what="the leader's anchors")
    assert written(follower) == 0
    assert follower.metric("pinback_audit_anchor_age_seconds", bucket=BUCKET) is None
    assert leader.stop() == 0
    eventually(lambda: written(follower) >= 1, timeout=60, what="the successor's first anchor")
    assert follower.stop() == 0
    done = pinback("audit", "--config", str(config), "verify", env={"PINBACK_AUDIT_URL": pg_url})
    assert done.returncode == 0, done.stdout + done.stderr
