"""Crash points: the controller is killed with SIGKILL at each step boundary of an apply.

The fault proxy holds a request so the kill lands at an exact point: before the mutating
call reaches AWS, after AWS did it but before the answer came back, during the wait that
follows, and after the verification but before the outcome is in the audit trail. The
frontend makes several calls; its commit is stamped only when all of them are done, so a
kill anywhere before leaves the old commit and the restart finishes. After a restart
every target reaches its pin, the audit chain verifies and shows each start with its
observed outcome, and a change that had already taken effect is never issued again (the
controller observes first).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.devtools import sandbox
from tests.stands.daemon_process import Daemon
from tests.stands.migrations import two_steps
from tests.stands.service import (
    COMMITS,
    REVISIONS,
    TAGS,
    Aws,
    Service,
    audit_json,
    config_copy,
    pinback,
    unclosed_or_twice,
)
from tests.stands.waiting import eventually

# target -> (pins before, pins after, the mutating request, a read made while waiting)
KINDS = {
    "backend": ({"backend": 4}, {"backend": 3}, "UpdateService", "DescribeServices"),
    "ai-worker": (
        {"ai_worker": TAGS[-1]},
        {"ai_worker": TAGS[2]},
        "PUT /2015-03-31/functions/leh-ai-worker/code",
        "GET /2015-03-31/functions/leh-ai-worker/configuration",
    ),
}
# The change has taken and been verified, but its outcome is not yet in the audit trail.
POINTS = ["before-the-call", "call-in-flight", "during-the-wait", "before-the-outcome-record"]


FRONTEND = ({"frontend": COMMITS[-1][:7]}, {"frontend": COMMITS[2][:7]})


def pins(service: Service, target: str, after: bool) -> Path:
    before, later = FRONTEND if target == "frontend" else KINDS[target][:2]
    chosen = later if after else before
    base = {
        "frontend": COMMITS[-1][:7],
        "backend": 4,
        "ai_worker": TAGS[-1],
        "database": REVISIONS[-1],
    }
    return service.pins(**{**base, **chosen})


def killed_while_held(
    config: Path,
    first_pins: Path,
    aws: Aws,
    hold: Callable[[], object],
    change: Callable[[], object],
    while_held: Callable[[Daemon], object] = lambda daemon: None,
) -> None:
    """Start a controller on ``first_pins``; arm ``hold`` at the fault proxy, ``change`` the
    pins, and once the held request has arrived (and ``while_held`` has run) SIGKILL it, as
    a node failure would, then let the proxy go."""
    first = Daemon.on(config, first_pins)
    try:
        eventually(first.ready, timeout=30, what="ready")
        aws.proxy.clear()
        hold()
        change()
        eventually(lambda: aws.proxy.holding, timeout=30, what="the held request")
        while_held(first)
    finally:
        first.stop(signal.SIGKILL)
        aws.proxy.drop_rules()  # a rule holding every matching request ends with it
        aws.proxy.release()


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("target", list(KINDS))
def test_killed_mid_apply_converges_without_repeating(
    service: Service, aws: Aws, tmp_path: Path, target: str, point: str
) -> None:
    _, _, mutating, waiting_read = KINDS[target]
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    trail: list[sqlite3.Connection] = []

    def hold() -> None:
        if point == "before-the-call":
            aws.proxy.add(mutating, "hold-before", count=1)
        elif point == "call-in-flight":
            aws.proxy.add(mutating, "hold-after", count=1)
        elif point == "during-the-wait":
            # Every such read once the change is made, whichever thread makes it: a pass's
            # own observation can come between the change and the wait's first read, and a
            # hold of one read only would then let the wait finish.
            aws.proxy.add(waiting_read, "hold-after", count=-1, after=mutating)
        elif point == "before-the-outcome-record":
            aws.proxy.add(mutating, "hold-after", count=1)

    def verified_not_recorded(first: Daemon) -> None:
        if point != "before-the-outcome-record":
            return
        # The change is made and its answer held: take the audit trail's write lock before
        # anything after it can be recorded, then let it go on. The controller waits and
        # verifies, and is stopped at recording the outcome.
        trail.append(sqlite3.connect(tmp_path / "audit.db", isolation_level=None, timeout=30))
        trail[0].execute("BEGIN IMMEDIATE")
        aws.proxy.release()  # the held answer is dropped; botocore's retry gets the next
        eventually(
            lambda: first.event("progress", lambda e: "now at" in e.get("message", "")),
            timeout=60,
            what="the change verified",
        )

    try:
        killed_while_held(
            config,
            pins(service, target, after=False),
            aws,
            hold,
            lambda: pins(service, target, after=True),
            verified_not_recorded,
        )
    finally:
        for connection in trail:
            connection.close()
    reached_aws = point != "before-the-call"
    calls_before_restart = aws.proxy.seen(mutating)
    second = Daemon.on(config, pins(service, target, after=True))
    try:
        eventually(second.ready, timeout=30, what="the restarted controller ready")
        eventually(
            lambda: (
                second.metric("pinback_target_drift", target=target) == 0
                and second.event("pass_finished")
            ),
            timeout=60,
            what="the target at its pin",
        )
        eventually(
            lambda: second.event("open_apply_closed", lambda e: e.get("target") == target),
            timeout=30,
            what="the open apply closed",
        )
    finally:
        second.stop()
    repeated = aws.proxy.seen(mutating) - calls_before_restart
    assert repeated == (0 if reached_aws else 1)
    assert pinback("audit", "--config", str(config), "verify").returncode == 0
    records = [
        json.loads(line)
        for line in pinback(
            "audit", "--target", target, "-o", "json", "--config", str(config)
        ).stdout.splitlines()
    ]
    applies = [r["event"] for r in records if r["event"].startswith("apply_")]
    assert applies[0] == "apply_started" and applies[1] in ("apply_succeeded", "apply_failed")
    assert records[[r["event"] for r in records].index(applies[1])]["live_after"] is not None
    assert unclosed_or_twice(records) == {}
    if point == "before-the-outcome-record":  # verified, so the restart finds it took
        assert applies[:2] == ["apply_started", "apply_succeeded"]


@pytest.mark.parametrize(
    "held",
    ["PUT /leh-frontend-prod/index.html", "GET /2020-05-31/distribution/"],
    ids=["page-written", "during-the-invalidation"],
)
def test_frontend_killed_half_way_is_finished_after_restart(
    service: Service, aws: Aws, tmp_path: Path, held: str
) -> None:
    """The commit is stamped only when all of it is live, so a restart finishes the job:
    stale keys deleted, /* invalidated, then the stamp."""
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    killed_while_held(
        config,
        pins(service, "frontend", after=False),
        aws,
        lambda: aws.proxy.add(held, "hold-after", count=1),
        lambda: pins(service, "frontend", after=True),
    )
    marker = aws.client("s3").head_object(Bucket="leh-frontend-prod", Key="index.html")["Metadata"][
        "git-commit"
    ]  # type: ignore[attr-defined]
    assert marker == COMMITS[-1]  # not stamped: the old commit is what is (fully) live
    invalidations_before = aws.proxy.seen("/invalidation")
    second = Daemon.on(config, pins(service, "frontend", after=True))
    try:
        eventually(
            lambda: second.event("apply_succeeded", lambda e: e.get("target") == "frontend"),
            timeout=60,
            what="the job finished",
        )
    finally:
        second.stop()
    s3 = aws.client("s3")
    assert (
        s3.head_object(Bucket="leh-frontend-prod", Key="index.html")["Metadata"]["git-commit"]
        == COMMITS[2]
    )  # type: ignore[attr-defined]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="leh-frontend-prod")["Contents"]}  # type: ignore[attr-defined]
    assert keys == set(sandbox.build_files(COMMITS[2]))
    assert aws.proxy.seen("/invalidation") > invalidations_before
    assert pinback("audit", "--config", str(config), "verify").returncode == 0
    assert unclosed_or_twice(audit_json("--config", str(config))) == {}


MIGRATION_GATE = 7_142_001  # an advisory lock the test holds to keep a migration running


def gated_migration(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose database's second migration waits on a lock the test holds, so the
    test decides exactly when it can finish (a sleep would race the signal)."""
    from daemon.devtools.sandbox import seed_database
    from tests.stands.service import MIGRATIONS

    scripts = two_steps(
        tmp_path,
        MIGRATIONS,
        "cccc",
        f'op.execute("SELECT pg_advisory_xact_lock({MIGRATION_GATE})")',
    )
    seed_database(pg_url, scripts, "cccc00000001")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    return config_copy(
        tmp_path,
        {
            "resyncInterval: 30s": "resyncInterval: 1s",
            f"scriptLocation: {MIGRATIONS}": f"scriptLocation: {scripts}",
        },
    )


@contextlib.contextmanager
def migration_held(pg_url: str) -> Iterator[None]:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_GATE,))
        yield
        connection.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_GATE,))


def database_state(pg_url: str) -> tuple[str, set[str]]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url)
    with engine.connect() as connection:
        version = connection.execute(
            sqlalchemy.text("SELECT version_num FROM alembic_version")
        ).scalar()
        tables = set(sqlalchemy.inspect(connection).get_table_names())
    engine.dispose()
    return str(version), tables


AT = {"frontend": COMMITS[-1][:7], "backend": 4, "ai_worker": TAGS[-1]}


def migrating(daemon: Daemon) -> object:
    return daemon.event("progress", lambda e: "alembic upgrade" in e.get("message", ""))


def test_database_killed_mid_migration_is_rolled_back_and_redone(
    service: Service, aws: Aws, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a migration killed half-way leaves nothing behind (one transaction, the
    advisory lock released with the connection); the restart runs it again to the end."""
    config = gated_migration(tmp_path, pg_url, monkeypatch)
    first = Daemon.on(config, service.pins(**AT, database="cccc00000001"))
    with migration_held(pg_url):
        try:
            eventually(first.ready, timeout=30, what="ready")
            service.pins(**AT, database="cccc00000002")
            eventually(lambda: migrating(first), timeout=30, what="the migration running")
        finally:
            first.stop(signal.SIGKILL)
        assert database_state(pg_url)[0] == "cccc00000001"  # killed inside it: nothing took
    second = Daemon.on(config, service.folder / "desired-versions.yaml")
    try:
        eventually(
            lambda: second.event("apply_succeeded", lambda e: e.get("target") == "database"),
            timeout=60,
            what="the migration redone",
        )
    finally:
        second.stop()
    version, tables = database_state(pg_url)
    assert version == "cccc00000002" and {"first", "second"} <= tables
    assert pinback("audit", "--config", str(config), "verify").returncode == 0
    records = audit_json("--config", str(config), "--target", "database")
    applies = [(r["event"], r["live_after"]) for r in records if r["event"].startswith("apply_")]
    assert applies[:2] == [("apply_started", None), ("apply_failed", "cccc00000001")]
    assert applies[-1] == ("apply_succeeded", "cccc00000002")
    assert unclosed_or_twice(records) == {}


def test_sigterm_during_a_migration_lets_it_finish_then_exits(
    service: Service, aws: Aws, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM while Alembic runs: the controller does not cut the migration, it finishes
    (here once the test lets it), is recorded, and then the process exits 0."""
    config = gated_migration(tmp_path, pg_url, monkeypatch)
    daemon = Daemon.on(config, service.pins(**AT, database="cccc00000001"))
    try:
        with migration_held(pg_url):
            eventually(daemon.ready, timeout=30, what="ready")
            service.pins(**AT, database="cccc00000002")
            eventually(lambda: migrating(daemon), timeout=30, what="the migration running")
            daemon.process.send_signal(signal.SIGTERM)
            eventually(lambda: daemon.event("shutdown_started"), timeout=30, what="stopping")
            assert daemon.process.poll() is None  # still there: the migration is not cut
        assert daemon.process.wait(timeout=60) == 0  # the migration let go: it finishes, exits
        daemon.stop()  # (no signal: it has exited) fails on threads left running
    finally:
        daemon.stop(signal.SIGKILL)
    assert database_state(pg_url)[0] == "cccc00000002"
    records = audit_json("--config", str(config), "--target", "database")
    outcomes = [r["event"] for r in records if r["event"] in ("apply_succeeded", "apply_failed")]
    assert outcomes == ["apply_succeeded"] and unclosed_or_twice(records) == {}


ALIASED = {"    repository: leh-ai-worker\n": "    repository: leh-ai-worker\n    alias: live\n"}
FUNCTION = "/2015-03-31/functions/leh-ai-worker"


@pytest.mark.parametrize(
    ("point", "held", "code_again"),
    [
        ("before-the-publish", f"POST {FUNCTION}/versions", 1),
        ("before-the-alias-moves", f"PUT {FUNCTION}/aliases/live", 0),
    ],
)
def test_an_alias_rollback_killed_between_its_steps_is_finished(
    service: Service, aws: Aws, tmp_path: Path, point: str, held: str, code_again: int
) -> None:
    """A tag never published takes three steps (code, publish, alias). Killed between them,
    the next controller finishes: the alias ends on a version running the tag's image, and
    the code is updated again only when nothing had been published yet."""
    aws.client("ecr").put_image(  # type: ignore[attr-defined]
        repositoryName="leh-ai-worker",
        imageManifest=sandbox.image_manifest("leh-ai-worker:v2.0.0"),
        imageTag="v2.0.0",
    )
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s", **ALIASED})
    killed_while_held(
        config,
        pins(service, "ai-worker", after=False),
        aws,
        lambda: aws.proxy.add(held, "hold-before", count=1),
        lambda: service.pins(
            frontend=COMMITS[-1][:7], backend=4, ai_worker="v2.0.0", database=REVISIONS[-1]
        ),
    )
    code_updates = aws.proxy.seen(f"PUT {FUNCTION}/code")
    lam, ecr = aws.client("lambda"), aws.client("ecr")
    wanted = ecr.describe_images(repositoryName="leh-ai-worker", imageIds=[{"imageTag": "v2.0.0"}])  # type: ignore[attr-defined]
    digest = wanted["imageDetails"][0]["imageDigest"].removeprefix("sha256:")
    second = Daemon.on(config, service.folder / "desired-versions.yaml")
    try:
        eventually(
            lambda: (
                lam.get_function_configuration(FunctionName="leh-ai-worker", Qualifier="live")[  # type: ignore[attr-defined]
                    "CodeSha256"
                ]
                == digest
            ),
            timeout=60,
            what="the alias on v2.0.0's image",
        )
        eventually(
            lambda: second.metric("pinback_target_drift", target="ai-worker") == 0,
            timeout=30,
            what="no drift",
        )
    finally:
        second.stop()
    assert aws.proxy.seen(f"PUT {FUNCTION}/code") - code_updates == code_again
    assert pinback("audit", "--config", str(config), "verify").returncode == 0
    assert unclosed_or_twice(audit_json("--config", str(config))) == {}


def test_an_open_apply_is_closed_even_when_the_restart_cannot_read_the_target_at_first(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Killed with UpdateService in flight; the restarted controller's first reads of the
    service fail (AWS answering 500 to every retry of that pass): it must keep the open
    apply and close it on the pass that can read the target, not drop it unrecorded."""
    _, _, mutating, _ = KINDS["backend"]
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    killed_while_held(
        config,
        pins(service, "backend", after=False),
        aws,
        lambda: aws.proxy.add(mutating, "hold-after", count=1),
        lambda: pins(service, "backend", after=True),
    )
    aws.proxy.add("DescribeServices", "error500", count=12)  # a pass's attempts, and more
    second = Daemon.on(config, pins(service, "backend", after=True))
    try:
        eventually(
            lambda: second.event("open_apply_closed", lambda e: e.get("target") == "backend"),
            timeout=60,
            what="the open apply closed",
        )
        assert aws.proxy.seen("DescribeServices") > 12  # the failing reads did happen first
    finally:
        second.stop()
    assert aws.proxy.seen(mutating) == 1  # never issued again
