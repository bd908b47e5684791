"""Audit anchors (DESIGN section 12) against a real Object Lock bucket in moto: what the hash
chain alone cannot find (a trail cut short, a trail rewritten with every hash recomputed)
fails ``pinback audit verify``, where ``--no-anchors`` (the chain alone) still passes.

moto enforces Object Lock retention (STAND-INS.md: deleting a locked object version answers
AccessDenied), so the lock the anchors rely on is the real one here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy
from botocore.exceptions import ClientError

from daemon.adapters.audit import AuditLog
from daemon.core.records import Entry, digest
from daemon.devtools import sandbox
from tests.stands.service import Aws, config_copy, pinback

BUCKET = "leh-audit-anchors"
PREFIX = "pinback/anchors/"
ANCHORED = f"  anchor: {{bucket: {BUCKET}, prefix: {PREFIX}, every: 1s}}\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(
    request: pytest.FixtureRequest, tmp_path: Path, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The trail the commands read (``PINBACK_AUDIT_URL``), on SQLite and on PostgreSQL."""
    url = (
        f"sqlite:///{tmp_path / 'trail.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    monkeypatch.setenv("PINBACK_AUDIT_URL", url)
    return url


def anchored_config(folder: Path) -> Path:
    return config_copy(
        folder,
        {
            "  url: sqlite:///../.sandbox/audit.db\n": "  url: sqlite:///../.sandbox/audit.db\n"
            + ANCHORED
        },
    )


@pytest.fixture
def config(aws: Aws, tmp_path: Path) -> Path:
    """The repo's config with ``audit.anchor``, and its locked bucket in moto."""
    sandbox.seed_anchor_bucket(aws.moto, BUCKET)
    return anchored_config(tmp_path)


def write(url: str, count: int) -> AuditLog:
    trail = AuditLog(url)
    trail.append(
        [Entry(event="desired_changed", target="backend", desired=str(i)) for i in range(count)]
    )
    return trail


def anchor(config: Path) -> str:
    done = pinback("audit", "--config", str(config), "anchor")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def verify(config: Path, *extra: str) -> tuple[int, str]:
    done = pinback("audit", "--config", str(config), "verify", *extra)
    return done.returncode, (done.stdout + done.stderr).strip()


def run_sql(url: str, statement: str, **values: object) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(statement), values)
    engine.dispose()


def test_an_anchor_is_a_locked_object_naming_the_head(
    config: Path, aws: Aws, audit_url: str
) -> None:
    """``pinback audit anchor`` writes the head under the prefix; the bucket's compliance
    retention refuses its deletion."""
    trail = write(audit_url, 5)
    seq, hash_ = trail.head()
    assert f"anchored record 5 at s3://{BUCKET}/{PREFIX}" in anchor(config)
    s3 = aws.client("s3")
    (item,) = s3.list_object_versions(Bucket=BUCKET, Prefix=PREFIX)["Versions"]  # type: ignore[attr-defined]
    assert item["Key"].endswith(f"-{seq:012d}-{hash_}.json")
    head = s3.head_object(Bucket=BUCKET, Key=item["Key"])  # type: ignore[attr-defined]
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=BUCKET, Key=item["Key"], VersionId=item["VersionId"])  # type: ignore[attr-defined]
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert verify(config) == (
        0,
        f"ok: 5 records, hash chain intact; 1 anchor agrees (newest {_shown(item)}, record 5)",
    )


def _shown(item: dict[str, object]) -> str:
    stamp = str(item["Key"]).removeprefix(PREFIX).split("-", 1)[0]
    moment = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_trail_cut_short_fails_verify_naming_the_anchor(config: Path, audit_url: str) -> None:
    """The newest records deleted by whoever holds the database: the chain that is left is
    sound (``--no-anchors`` passes, as ``verify`` did before anchors), the anchor is not."""
    write(audit_url, 5)
    anchor(config)
    write(audit_url, 3)  # 8 records, anchored at 5
    anchor(config)
    run_sql(audit_url, "DELETE FROM pinback_audit WHERE seq > 6")
    assert verify(config, "--no-anchors") == (0, "ok: 6 records, hash chain intact")
    code, said = verify(config)
    assert code == 1
    assert "the audit trail was cut short: the anchor of " in said
    assert "covers record 8, the trail ends at 6; records up to 5 agree with the anchor of" in said
    assert "Traceback" not in said


def test_a_trail_rewritten_with_its_hashes_fails_verify(config: Path, audit_url: str) -> None:
    """Record 3 edited and every hash from it recomputed, so the chain checks: the anchor
    of record 5 no longer agrees."""
    trail = write(audit_url, 5)
    anchor(config)
    rows = trail.query()
    previous = rows[1].hash
    for row in rows[2:]:
        values = {**row.as_json(), "prev_hash": previous}
        if row.seq == 3:
            values["desired"] = "99"
        values["hash"] = previous = digest(values)
        run_sql(
            audit_url,
            "UPDATE pinback_audit SET desired = :desired, prev_hash = :prev, hash = :hash WHERE seq = :seq",
            desired=values["desired"],
            prev=values["prev_hash"],
            hash=values["hash"],
            seq=row.seq,
        )
    assert verify(config, "--no-anchors") == (0, "ok: 5 records, hash chain intact")
    code, said = verify(config)
    assert code == 1
    assert "the audit trail was rewritten: record 5 differs from the anchor of " in said
    assert "the trail was changed at or before record 5" in said


@pytest.mark.parametrize(
    ("lock", "said"),
    [
        (False, "the bucket has no Object Lock"),
        (True, "has Object Lock but no default retention"),
    ],
    ids=["no-object-lock", "no-default-retention"],
)
def test_a_bucket_that_cannot_keep_anchors_is_refused(
    aws: Aws, tmp_path: Path, lock: bool, said: str
) -> None:
    """Anchors in a bucket whose objects can be deleted prove nothing: the controller does
    not start, and ``audit anchor`` writes nothing."""
    aws.client("s3").create_bucket(  # type: ignore[attr-defined]
        Bucket=BUCKET,
        CreateBucketConfiguration={"LocationConstraint": sandbox.REGION},
        ObjectLockEnabledForBucket=lock,
    )
    config = anchored_config(tmp_path)
    for args in (
        ("audit", "--config", str(config), "anchor"),
        ("run", "--config", str(config), "--listen", "127.0.0.1:0"),
    ):
        done = pinback(*args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"audit.anchor.bucket {BUCKET}" in done.stderr and said in done.stderr
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=BUCKET)  # type: ignore[attr-defined]


def test_no_anchor_yet_is_said_not_failed(config: Path, audit_url: str) -> None:
    write(audit_url, 2)
    assert verify(config) == (
        0,
        f"ok: 2 records, hash chain intact; no anchor yet in s3://{BUCKET}/{PREFIX}",
    )


def test_unreadable_anchors_are_not_a_pass(config: Path, aws: Aws, audit_url: str) -> None:
    """S3 answering 500 to every listing: verify cannot vouch for the trail, and says how to
    check the chain alone."""
    write(audit_url, 2)
    aws.proxy.add(f"GET /{BUCKET}", "error500", count=-1)
    code, said = verify(config)
    assert code == 1 and "cannot read the audit anchors" in said and "--no-anchors" in said
