"""`pinback run --env NAME`: a controller keeps one environment of a several-environment
config at its pins, and leaves the other's resources alone."""

from __future__ import annotations

import signal

from tests.integration.test_environments import STAGING, Stage, revision, stage
from tests.stands.daemon_process import Daemon
from tests.stands.service import Aws, audit_json, pinback
from tests.stands.waiting import eventually

__all__ = ["stage"]  # the fixture, shared with the one-shot tests


def test_a_controller_runs_its_environment_only(stage: Stage, aws: Aws) -> None:
    daemon = Daemon("--config", str(stage.config), "--env", "staging", "--listen", "127.0.0.1:0")
    try:
        eventually(daemon.ready, timeout=30, what="/readyz")
        stage.pins("staging", backend=3)
        eventually(
            lambda: revision(aws, STAGING.cluster, STAGING.service) == "3",
            timeout=30,
            what="staging's service at revision 3",
        )
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
