"""The controller during rollouts that take time (``tests.stands.realistic.ecs``): a pin that
goes back while its rollout is in flight, and a scale event that is not a rollout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.stands.daemon_process import Daemon
from tests.stands.realistic.ecs import EcsWorld, Timing
from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, config_copy, health_alarm
from tests.stands.waiting import eventually


def pins(service: Service, backend: int) -> None:
    service.pins(
        frontend=COMMITS[-1][:7], backend=backend, ai_worker=TAGS[-1], database=REVISIONS[-1]
    )


def backend_row(daemon: Daemon) -> dict[str, Any]:
    rows = json.loads(daemon.get("/status")[1])["targets"]
    return next(r for r in rows if r["target"] == "backend")


def test_a_pin_back_during_its_rollout_is_ecs_own_rollback(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The backend rolls out revision 3 (new tasks start for 6 s); meanwhile the pin goes
    back to 4. The controller ends the wait it was in, stops the in-flight deployment with
    StopServiceDeployment(ROLLBACK) (4's tasks still run) and records 4 applied; it starts
    no second deployment. /status showed the rollout while it ran."""
    ecs = aws.proxy.add_world(EcsWorld())
    assert isinstance(ecs, EcsWorld)
    ecs.animate("leh-cluster", "leh-backend", 4, timing=Timing(start=6.0, drain=1.0))
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    daemon = Daemon.on(config, service.current_pins())
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        pins(service, 3)
        seen = eventually(
            lambda: (
                (row := backend_row(daemon)).get("applying")
                and "IN_PROGRESS" in row["applying"]["step"]
                and row
            ),
            timeout=30,
            what="the rollout shown on /status",
        )
        assert seen["phase"] == "Applying"
        pins(service, 4)
        eventually(
            lambda: daemon.event("apply_succeeded", lambda e: e.get("desired") == "4"),
            timeout=30,
            what="4 applied",
        )
    finally:
        daemon.stop()
    assert aws.proxy.seen("UpdateService") == 1
    assert aws.proxy.seen("StopServiceDeployment") == 1
    assert ecs.deployments("leh-cluster", "leh-backend")[-1].status == "ROLLBACK_SUCCESSFUL"


def test_a_scale_event_during_an_incident_is_left_alone(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The backend is at its pin, its alarm fires (an incident) and autoscaling adds two
    tasks, still starting: nothing is applied, gated or reverted (no apply_started, no
    UpdateService); the target stays in sync."""
    health_alarm(aws)
    aws.client("cloudwatch").set_alarm_state(  # type: ignore[attr-defined]
        AlarmName="leh-backend-5xx", StateValue="ALARM", StateReason="incident"
    )
    ecs = aws.proxy.add_world(EcsWorld())
    assert isinstance(ecs, EcsWorld)
    ecs.animate("leh-cluster", "leh-backend", 4)
    config = config_copy(
        tmp_path,
        {
            "resyncInterval: 30s": "resyncInterval: 1s",
            "    timeout: 15m\n": "    timeout: 15m\n    health: {cloudwatchAlarms: [leh-backend-5xx], bakeTime: 1s, onFailure: revert}\n",
        },
    )
    daemon = Daemon.on(config, service.current_pins())
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        ecs.scale("leh-cluster", "leh-backend", running=2, desired=4)
        daemon.more_passes(4)
        row = backend_row(daemon)
    finally:
        daemon.stop()
    assert daemon.events("apply_started") == []
    assert aws.proxy.seen("UpdateService") == 0
    assert row["phase"] == "InSync", row
