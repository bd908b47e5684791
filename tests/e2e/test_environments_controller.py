"""`pinback run`: one process keeps every environment of the config at its pins (one
listener, metrics, `/status` and page by environment); `--env NAME` keeps one and leaves
the other's resources alone."""

from __future__ import annotations

import json
import signal

from tests.e2e.test_one_writer import free_port, listening_on
from tests.integration.test_environments import STAGING, Stage, revision, stage
from tests.stands.daemon_process import Daemon
from tests.stands.service import TAGS, Aws, audit_json, pinback
from tests.stands.waiting import eventually

__all__ = ["stage"]  # the fixture, shared with the one-shot tests


def staging_at(aws: Aws, wanted: str) -> None:
    eventually(
        lambda: revision(aws, STAGING.cluster, STAGING.service) == wanted,
        timeout=30,
        what=f"staging's service at revision {wanted}",
    )


def test_a_controller_runs_its_environment_only(stage: Stage, aws: Aws) -> None:
    daemon = Daemon("--config", str(stage.config), "--env", "staging", "--listen", "127.0.0.1:0")
    try:
        eventually(daemon.ready, timeout=30, what="/readyz")
        stage.pins("staging", backend=3)
        staging_at(aws, "3")
        stage.pins("prod", backend=2)  # another controller's file: this one never reads it
        daemon.more_passes(2)
        assert revision(aws, "leh-cluster", "leh-backend") == "4"
        applied = audit_json("--event", "apply_succeeded")
        assert [(r["environment"], r["target"], r["desired"]) for r in applied] == [
            ("staging", "backend", "3")
        ]
    finally:
        daemon.stop(signal.SIGTERM)


def test_leases_are_per_environment(stage: Stage, aws: Aws, pg_url: str) -> None:
    """Prod's controller leads its shard in the shared leadership database; a one-shot apply
    in staging takes staging's lease, not prod's, so it is not refused and it applies."""
    stage.config.write_text(
        stage.config.read_text() + "leadership: {urlEnv: PINBACK_LEADER_URL, leaseSeconds: 6}\n"
    )
    env = {"PINBACK_LEADER_URL": pg_url}
    prod = Daemon(
        "--config", str(stage.config), "--env", "prod", "--listen", "127.0.0.1:0", env=env
    )
    try:
        eventually(lambda: prod.metric("pinback_leader") == 1, timeout=30, what="prod leads")
        stage.pins("staging", backend=3)
        done = pinback(
            "apply", "--yes", "--local", "--env", "staging", "--config", str(stage.config), env=env
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert revision(aws, STAGING.cluster, STAGING.service) == "3"
        assert prod.metric("pinback_leader") == 1
    finally:
        prod.stop(signal.SIGTERM)


def test_one_process_runs_every_environment(stage: Stage, aws: Aws) -> None:
    """Without --env, `pinback run` keeps staging and prod at their own pins in one process:
    each pin change moves only its environment's resources; the metrics, `/status`, the page
    and the trail name the environment; a one-shot command of one environment hands its
    change to this controller and follows only its own rows."""
    port = free_port()
    stage.config.write_text(listening_on(stage.config.read_text(), port))
    daemon = Daemon("--config", str(stage.config), "--listen", f"127.0.0.1:{port}")
    try:
        eventually(daemon.ready, timeout=30, what="/readyz")
        stage.pins("staging", backend=3)
        staging_at(aws, "3")
        eventually(
            lambda: (
                daemon.metric("pinback_target_info", environment="staging", target="backend")
                is not None
                and daemon.metric(
                    "pinback_target_info", environment="staging", target="backend", live="3"
                )
                == 1
            ),
            timeout=30,
            what="staging's backend at 3 on /metrics",
        )
        assert daemon.metric("pinback_target_info", environment="prod", live="4") == 1
        assert revision(aws, "leh-cluster", "leh-backend") == "4"

        aws.proxy.add("UpdateService", "latency", count=1, delay=3)  # prod's, mid-rollout
        stage.pins("prod", backend=3, ai_worker=TAGS[-2])
        eventually(lambda: aws.proxy.seen("UpdateService") == 2, timeout=30, what="prod's rollout")
        done = pinback("apply", "--yes", "--env", "prod", "--config", str(stage.config))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "asked the controller" in done.stderr and "applied by the controller" in done.stdout
        assert revision(aws, "leh-cluster", "leh-backend") == "3"
        assert aws.proxy.seen("UpdateService") == 2  # one writer: the controller's, once

        _, body = daemon.get("/status")
        status = json.loads(body)
        rows = {(r["environment"], r["target"]): r for r in status["targets"]}
        assert len(rows) == 8 and set(status["environments"]) == {"staging", "prod"}
        assert rows[("staging", "backend")]["live"] == rows[("prod", "backend")]["live"] == "3"
        assert rows[("staging", "ai-worker")]["live"] == TAGS[-1]
        assert rows[("prod", "ai-worker")]["live"] == TAGS[-2]
        mine = pinback("status", "--env", "staging", "-o", "json", "--config", str(stage.config))
        shown = json.loads(mine.stdout)
        assert shown["source"].startswith("controller at")
        assert {r["environment"] for r in shown["targets"]} == {"staging"}

        _, page = daemon.get("/")
        assert 'id="environment-staging"' in page and 'id="environment-prod"' in page
        assert daemon.get("/versions/backend")[0] == 400  # in both: the page links name one
        assert daemon.get("/versions/backend?env=staging")[0] == 200
        assert daemon.get("/versions/backend?env=qa")[0] == 404
        report = pinback("report", "--config", str(stage.config)).stdout  # covers both
        assert "\n| staging/backend | " in report and "\n| prod/backend | " in report
        applied = audit_json("--event", "apply_succeeded")
        assert sorted((r["environment"], r["target"]) for r in applied) == [
            ("prod", "ai-worker"),
            ("prod", "backend"),
            ("staging", "backend"),
        ]
    finally:
        assert daemon.stop(signal.SIGTERM) == 0
