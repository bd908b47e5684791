"""The audit trail as the controller writes it: it waits for the trail before applying,
closes once an apply a crash left open, attributes each pin change to its commit, and
applies what is pushed to git, not what is edited in its clone."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.stands.daemon_process import Daemon, waiting_on
from tests.stands.gitrepo import Origin, commit_as, new_repo
from tests.stands.service import COMMITS, Aws, Service, config_copy, pinback
from tests.stands.waiting import eventually


def test_controller_waits_for_the_audit_trail_then_applies(
    service: Service, aws: Aws, tmp_path: Path, pg_admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit database down: the controller changes nothing and retries; once it is up, it applies."""
    name = f"pinback_audit_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("PINBACK_AUDIT_URL", pg_admin.rsplit("/", 1)[0] + f"/{name}")
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    daemon = Daemon(
        "--config", str(config), "--state", str(service.pins(backend=3)), "--listen", "127.0.0.1:0"
    )
    try:
        eventually(
            lambda: daemon.event("apply_failed"),
            timeout=30,
            what="an apply refused for want of an audit trail",
        )
        assert "cannot write the audit trail" in (daemon.event("apply_failed") or {}).get(
            "error", ""
        )
        assert aws.proxy.seen("UpdateService") == 0
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        eventually(
            lambda: daemon.event("apply_succeeded"),
            timeout=30,
            what="the apply once the audit trail is back",
        )
        assert aws.proxy.seen("UpdateService") == 1
    finally:
        daemon.stop(signal.SIGKILL)
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_crash_mid_apply_is_closed_once_after_restart(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Killed while waiting on a rollout: the next controller records the observed outcome, once."""
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    pins = service.current_pins()
    first = Daemon("--config", str(config), "--state", str(pins), "--listen", "127.0.0.1:0")
    eventually(first.ready, timeout=30, what="ready")
    aws.proxy.add(
        "DescribeServices",
        "rewrite",
        count=-1,
        set={"services.*.deployments.*.rolloutState": "IN_PROGRESS"},
    )
    service.pins(frontend=COMMITS[-1][:7], backend=3, ai_worker="v1.9.0", database="d92f3a6c8e45")
    eventually(
        lambda: waiting_on(first, "3"),
        timeout=20,
        what="the wait",
    )
    first.stop(signal.SIGKILL)
    aws.proxy.clear()  # the rollout finishes while no controller runs
    second = Daemon("--config", str(config), "--state", str(pins), "--listen", "127.0.0.1:0")
    try:
        eventually(
            lambda: second.event("open_apply_closed"), timeout=30, what="the open apply closed"
        )
        eventually(second.ready, timeout=30, what="ready")
    finally:
        second.stop()
    records = [
        json.loads(line)
        for line in pinback("audit", "--target", "backend", "-o", "json").stdout.splitlines()
    ]
    # (the first controller may also have waited on the rollout it saw before the pin
    # changed; what matters is the apply of the pin to 3)
    applies = [r for r in records if r["event"].startswith("apply_") and r["desired"] == "3"]
    assert [r["event"] for r in applies] == ["apply_started", "apply_succeeded"]
    assert (
        applies[1]["reason"] == "outcome observed after a restart"
        and applies[1]["live_after"] == "3"
    )
    assert aws.proxy.seen("UpdateService") == 0  # the second controller issued nothing again
    assert pinback("audit", "verify").returncode == 0


def test_pin_changes_are_attributed_to_their_commit(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """desired_changed carries the author and commit of the pin file's last commit; an
    uncommitted edit is recorded as uncommitted."""
    repo = tmp_path / "gitops"
    repo.mkdir()
    pins = repo / "desired-versions.yaml"
    pins.write_text(service.current_pins().read_text())
    new_repo(repo, "Alice", "pin everything")
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    daemon = Daemon("--config", str(config), "--state", str(pins), "--listen", "127.0.0.1:0")
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        text = pins.read_text().replace(
            "revision: 4", 'revision: 3\n    reason: "INC-231 checkout 500s"'
        )
        text = text.replace(
            'revision: "d92f3a6c8e45"', 'revision: "d92f3a6c8e45"\n    allowDestructive: true'
        )
        pins.write_text(text)
        commit = commit_as(repo, "Bob", "roll back backend")
        eventually(lambda: daemon.event("apply_succeeded"), timeout=30, what="the rollback")
        pins.write_text(pins.read_text().replace("revision: 3", "revision: 2"))
        eventually(
            lambda: len(daemon.events("apply_succeeded")) >= 2,
            timeout=30,
            what="the second rollback",
        )
    finally:
        daemon.stop()
    records = [
        json.loads(line)
        for line in pinback(
            "audit", "--event", "desired_changed", "--target", "backend", "-o", "json"
        ).stdout.splitlines()
    ]
    committed, uncommitted = records[-2], records[-1]
    assert committed["actor"] == "Bob <bob@example.com>" and committed["pin_commit"] == commit
    assert committed["reason"] == "INC-231 checkout 500s" and committed["desired"] == "3"
    assert uncommitted["pin_commit"] == "uncommitted" and uncommitted["desired"] == "2"
    database = [
        json.loads(line)
        for line in pinback(
            "audit", "--event", "desired_changed", "--target", "database", "-o", "json"
        ).stdout.splitlines()
    ]
    assert database[-1]["actor"] == "Bob <bob@example.com>" and database[-1]["reason"].endswith(
        "[allowDestructive]"
    )
    applied = [
        json.loads(line)
        for line in pinback("audit", "--event", "apply_succeeded", "-o", "json").stdout.splitlines()
    ]
    assert applied[0]["actor"] == "Bob <bob@example.com>" and applied[0]["pin_commit"] == commit


def test_git_source_applies_what_is_pushed_not_what_is_edited(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """With desiredState.git, the pin at origin/main counts: a local edit changes nothing,
    a pushed commit is fetched, applied and attributed to its author."""
    origin = Origin(tmp_path)
    origin.pins.write_text(service.current_pins().read_text())
    origin.push("Alice", "initial pins")
    config = config_copy(
        tmp_path,
        {
            "resyncInterval: 30s": "resyncInterval: 1s",
            "  path: ../state/desired-versions.yaml\n": origin.source("500ms"),
        },
    )
    daemon = Daemon("--config", str(config), "--listen", "127.0.0.1:0")
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        origin.pins.write_text(
            origin.pins.read_text().replace("revision: 4", "revision: 2")
        )  # edited, not pushed
        eventually(
            lambda: len(daemon.events("pass_finished")) >= 4, timeout=30, what="a few passes"
        )
        assert aws.proxy.seen("UpdateService") == 0
        origin.pins.write_text(origin.pins.read_text().replace("revision: 2", "revision: 3"))
        commit = origin.push("Carol", "roll back backend")
        eventually(
            lambda: daemon.event("apply_succeeded"), timeout=30, what="the pushed pin applied"
        )
    finally:
        daemon.stop()
    changed = [
        json.loads(line)
        for line in pinback(
            "audit", "--event", "desired_changed", "--target", "backend", "-o", "json"
        ).stdout.splitlines()
    ]
    assert changed[-1]["desired"] == "3" and changed[-1]["actor"] == "Carol <carol@example.com>"
    assert changed[-1]["pin_commit"] == commit
