"""Health gates on CloudWatch as it behaves: composite alarms (returned only when
``AlarmTypes`` asks), and reads that fail (throttled, denied) without failing the gate."""

from __future__ import annotations

import threading
from pathlib import Path

from daemon.adapters.audit import AuditLog
from daemon.core.model import Outcome
from tests.stands.realistic.cloudwatch import CloudWatchWorld
from tests.stands.service import Aws, Service, config_copy, health_alarm
from tests.stands.waiting import eventually

BACKEND = "    timeout: 15m\n"


def gated(tmp_path: Path, health: str) -> Path:
    return config_copy(tmp_path, {BACKEND: f"{BACKEND}    health: {health}\n"})


def composites(aws: Aws) -> CloudWatchWorld:
    world = aws.proxy.add_world(CloudWatchWorld())
    assert isinstance(world, CloudWatchWorld)
    return world


def test_a_composite_alarm_is_found_and_judged(service: Service, aws: Aws, tmp_path: Path) -> None:
    """``cloudwatchAlarms`` names a composite alarm: OK through the bake, the gate passes
    (AWS returns composite alarms only when AlarmTypes asks:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html)."""
    composites(aws).composite("leh-backend-health", "OK")
    config = gated(tmp_path, "{cloudwatchAlarms: [leh-backend-health], bakeTime: 1s}")
    engine, desired = service.engine(config, backend=3)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED, result.error


def test_a_composite_alarm_firing_in_the_bake_fails_the_gate(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    world = composites(aws)
    world.composite("leh-backend-health", "OK")
    config = gated(tmp_path, "{cloudwatchAlarms: [leh-backend-health], bakeTime: 20s}")
    engine, desired = service.engine(config, backend=3)
    plan = engine.snapshot(desired).plan

    def fire() -> None:
        eventually(lambda: aws.proxy.seen("DescribeAlarms") >= 2, timeout=20, what="the bake")
        world.composite("leh-backend-health", "ALARM")

    threading.Thread(target=fire).start()
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.FAILED and result.held
    assert result.error is not None and "in ALARM: leh-backend-health" in result.error


def test_a_throttled_read_in_the_bake_is_tried_again(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """DescribeAlarms is throttled through all of botocore's attempts once during the bake:
    the next look reads the alarm, OK, and the gate passes."""
    health_alarm(aws)
    config = gated(tmp_path, "{cloudwatchAlarms: [leh-backend-5xx], bakeTime: 3s}")
    engine, desired = service.engine(config, backend=3)
    plan = engine.snapshot(desired).plan
    aws.proxy.add(
        "DescribeAlarms", "throttle", count=3, skip=1
    )  # the look before the change passes
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.APPLIED, result.error


def test_a_gate_that_cannot_read_is_undecided_held_and_never_reverted(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Access to DescribeAlarms is denied for the whole bake: the gate cannot tell whether
    the change is healthy, so the target is held where it is, saying so, and not reverted
    to the version known good; the version is not recorded as having failed its gates."""
    health_alarm(aws)
    config = gated(
        tmp_path, "{cloudwatchAlarms: [leh-backend-5xx], bakeTime: 1s, onFailure: revert}"
    )
    audit = AuditLog(f"sqlite:///{tmp_path / 'trail.db'}")
    audit.record("apply_succeeded", target="backend", kind="ecs", desired="4")  # 4 passed
    engine, desired = service.engine(config, backend=3, audit=audit)
    plan = engine.snapshot(desired).plan
    aws.proxy.add(
        "DescribeAlarms",
        "answer",
        count=-1,
        error="AccessDeniedException",
        message="User is not authorized to perform: cloudwatch:DescribeAlarms",
    )
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.FAILED and result.held and result.live_after == "3"
    assert result.error is not None and result.error.startswith("health gate undecided")
    assert aws.proxy.seen("UpdateService") == 1
    events = [r.event for r in audit.query(target="backend", limit=10)]
    assert "health_failed" not in events
