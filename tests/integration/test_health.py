"""Health gates after a change: HTTP, CloudWatch alarms, smoke command; hold or revert once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from daemon.adapters.audit import AuditLog
from daemon.core.model import Outcome, Result
from daemon.engine.engine import Engine
from daemon.spec import DesiredState
from tests.stands.service import (
    COMMITS,
    MIGRATIONS,
    REVISIONS,
    TAGS,
    Aws,
    Service,
    config_copy,
    health_alarm,
    pinback,
)
from tests.stands.waiting import eventually


class Site:
    """A local web server whose answer the test sets: the service's /version.json. With
    ``then`` (and ``then_status``), the first ``switch_after`` requests get ``body`` and the
    rest ``then`` (a deployment that takes a few looks to be served, a change that breaks the
    site); every requested path is kept."""

    def __init__(self) -> None:
        self.status = 200
        self.body = "{}"
        self.then: str | None = None
        self.then_status: int | None = None
        self.switch_after = 0
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.paths.append(self.path)
                late = len(site.paths) > site.switch_after
                body = site.then if late and site.then is not None else site.body
                status = site.then_status if late and site.then_status else site.status
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/version.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.server.shutdown()


def with_health(tmp_path: Path, target_line: str, health: str) -> Path:
    return config_copy(tmp_path, {target_line: f"{target_line}    health: {health}\n"})


FRONTEND = "    timeout: 10m\n"
BACKEND = "    timeout: 15m\n"


def test_http_check_passes_when_the_new_version_is_served(
    service: Service, aws: Aws, site: Site, tmp_path: Path
) -> None:
    """The frontend counts as done only once its URL serves the new commit: the site
    serves the old one for two looks (CloudFront still warming), then the new."""
    site.body = json.dumps({"commit": COMMITS[-1]})
    site.then, site.switch_after = json.dumps({"commit": COMMITS[1]}), 2
    config = with_health(
        tmp_path, FRONTEND, f"{{url: '{site.url}', expect: '{{commit}}', timeout: 30s}}"
    )
    engine, desired = service.engine(config, frontend=COMMITS[1][:7])
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED, result.error
    assert len(site.paths) == 3  # it looked until the new commit was served, then stopped


def test_http_check_fails_when_the_old_version_is_still_served(
    service: Service, aws: Aws, site: Site, tmp_path: Path
) -> None:
    """`expect` not in the answer until the timeout: failed, naming what was expected."""
    site.body = json.dumps({"commit": COMMITS[-1]})
    config = with_health(
        tmp_path, FRONTEND, f"{{url: '{site.url}', expect: '{{commit}}', timeout: 1s}}"
    )
    engine, desired = service.engine(config, frontend=COMMITS[1][:7])
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and f"answered without {COMMITS[1]!r}" in result.error


@pytest.mark.parametrize(
    ("line", "pin", "placeholder", "version"),
    [
        (BACKEND, {"backend": 3}, "{revision}", "3"),
        ("    repository: leh-ai-worker\n", {"ai_worker": TAGS[1]}, "{tag}", TAGS[1]),
    ],
    ids=["ecs-revision", "lambda-tag"],
)
def test_url_and_expect_are_filled_with_the_targets_version(
    service: Service,
    aws: Aws,
    site: Site,
    tmp_path: Path,
    line: str,
    pin: dict[str, object],
    placeholder: str,
    version: str,
) -> None:
    site.body = json.dumps({"version": version})
    config = with_health(
        tmp_path,
        line,
        f"{{url: '{site.url}?v={placeholder}', expect: '\"{placeholder}\"', timeout: 5s}}",
    )
    engine, desired = service.engine(config, **pin)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED, result.error
    # one look before the change, at the version live then (the baseline), then the new one
    assert len(site.paths) == 2 and site.paths[1] == f"/version.json?v={version}"


def test_failed_check_holds_by_default(
    service: Service, aws: Aws, site: Site, tmp_path: Path
) -> None:
    """A 500 after the change (200 just before it): failed, held at the new version,
    health_failed recorded."""
    site.then_status, site.switch_after = 500, 1
    config = with_health(tmp_path, FRONTEND, f"{{url: '{site.url}', timeout: 1s}}")
    engine, desired = service.engine(config, frontend=COMMITS[1][:7])
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED and result.detail["held"] == "yes"
    assert result.error is not None and "answered 500, expected 200" in result.error
    assert result.live_after == COMMITS[1]


def test_failed_check_reverts_when_asked(service: Service, aws: Aws, tmp_path: Path) -> None:
    """onFailure: revert goes back to what was live before, verified, and says so."""
    config = with_health(
        tmp_path,
        BACKEND,
        "{command: 'test \"$PINBACK_VERSION\" = 4', timeout: 5s, onFailure: revert}",
    )
    audit = AuditLog(f"sqlite:///{tmp_path / 'trail.db'}")
    audit.record("apply_succeeded", target="backend", kind="ecs", desired="4")  # 4 passed
    engine, desired = service.engine(config, backend=3, audit=audit)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED and result.detail["reverted"] == "yes"
    assert (
        result.error is not None
        and "smoke command exited 1" in result.error
        and "reverted to 4" in result.error
    )
    services = aws.client("ecs").describe_services(cluster="leh-cluster", services=["leh-backend"])  # type: ignore[attr-defined]
    assert services["services"][0]["taskDefinition"].endswith(":4")
    assert aws.proxy.seen("UpdateService") == 2


def test_alarm_in_alarm_fails_the_gate(service: Service, aws: Aws, tmp_path: Path) -> None:
    """A named CloudWatch alarm in ALARM during the bake time fails the change."""
    health_alarm(aws)
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName="leh-backend-5xx", StateValue="ALARM", StateReason="test")  # type: ignore[attr-defined]
    config = with_health(tmp_path, BACKEND, "{cloudwatchAlarms: [leh-backend-5xx], bakeTime: 1s}")
    engine, desired = service.engine(config, backend=3)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED
    assert (
        result.error is not None and "CloudWatch alarm(s) in ALARM: leh-backend-5xx" in result.error
    )
    cloudwatch.set_alarm_state(AlarmName="leh-backend-5xx", StateValue="OK", StateReason="test")  # type: ignore[attr-defined]
    engine, desired = service.engine(config, backend=2)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED


def test_alarm_states_are_written_down_before_the_change(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """apply_started carries the health alarms' states before the change (ROLLBACK.md 7.1)."""
    health_alarm(aws)
    config = with_health(
        tmp_path, BACKEND, "{cloudwatchAlarms: [leh-backend-5xx], bakeTime: 500ms}"
    )
    pins = service.pins(backend={"revision": 3, "reason": "INC-231"})
    assert pinback("apply", "--yes", "--config", str(config), "--state", str(pins)).returncode == 0
    (started,) = [
        json.loads(line)
        for line in pinback("audit", "--event", "apply_started", "-o", "json").stdout.splitlines()
    ]
    assert started["reason"] == "INC-231 [alarms before: leh-backend-5xx=OK]"


def alarm_state(aws: Aws, state: str, name: str = "leh-backend-5xx") -> None:
    aws.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")  # type: ignore[attr-defined]


def apply_while_the_alarm_turns(
    aws: Aws, engine: Engine, desired: DesiredState, state: str
) -> Result:
    """Apply the plan; the moment its UpdateService reaches AWS, the alarm turns ``state``."""
    plan = engine.snapshot(desired).plan

    def turn_after_the_change() -> None:
        eventually(lambda: aws.proxy.seen("UpdateService"), timeout=30, what="the change")
        alarm_state(aws, state)

    turning = threading.Thread(target=turn_after_the_change)
    turning.start()
    (result,) = engine.apply(plan)
    turning.join()
    return result


def test_a_rollback_made_while_the_alarm_fires_passes_once_it_clears(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The incident's alarm is in ALARM when the rollback lands and returns to OK during the
    bake: the rollback passes, is not reverted, and the record names ALARM -> OK.

    Stands in for CloudWatch re-evaluating an alarm after the fix (moto never evaluates
    alarms; ``SetAlarmState`` sets what evaluation would:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_SetAlarmState.html).
    """
    health_alarm(aws)
    alarm_state(aws, "ALARM")
    config = with_health(
        tmp_path, BACKEND, "{cloudwatchAlarms: [leh-backend-5xx], bakeTime: 3s, onFailure: revert}"
    )
    engine, desired = service.engine(
        config, backend=3, audit=AuditLog(f"sqlite:///{tmp_path / 'trail.db'}")
    )
    result = apply_while_the_alarm_turns(aws, engine, desired, "OK")
    assert result.outcome is Outcome.APPLIED, result.error
    assert aws.proxy.seen("UpdateService") == 1  # no revert
    (succeeded,) = engine.audit.query(event_name="apply_succeeded")
    assert succeeded.reason is not None and "leh-backend-5xx: ALARM -> OK" in succeeded.reason


def test_an_alarm_that_starts_firing_during_the_bake_fails_the_change(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """An alarm that was OK before the change and goes into ALARM during the bake is the
    change's doing: the gate fails, naming OK -> ALARM."""
    health_alarm(aws)
    config = with_health(tmp_path, BACKEND, "{cloudwatchAlarms: [leh-backend-5xx], bakeTime: 60s}")
    engine, desired = service.engine(config, backend=3)
    result = apply_while_the_alarm_turns(aws, engine, desired, "ALARM")
    assert result.outcome is Outcome.FAILED and result.held
    assert result.error is not None and "leh-backend-5xx: OK -> ALARM" in result.error


def test_revert_goes_to_the_last_version_that_passed_not_the_failing_one(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Live is 4, the bad version of the incident (its gate failed, its alarm fires); 2
    passed before it. The rollback to 3 does not clear the alarm either: the revert goes to
    2, never back to 4 (whose checks did not pass just before the change)."""
    audit = AuditLog(f"sqlite:///{tmp_path / 'trail.db'}")
    audit.record("apply_succeeded", target="backend", kind="ecs", desired="2")
    audit.record("health_failed", target="backend", kind="ecs", desired="4", error="5xx")
    health_alarm(aws)
    alarm_state(aws, "ALARM")
    config = with_health(
        tmp_path, BACKEND, "{cloudwatchAlarms: [leh-backend-5xx], bakeTime: 1s, onFailure: revert}"
    )
    engine, desired = service.engine(config, backend=3, audit=audit)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.detail["reverted"] == "yes" and result.live_after == "2", result.error
    live = aws.client("ecs").describe_services(cluster="leh-cluster", services=["leh-backend"])  # type: ignore[attr-defined]
    assert live["services"][0]["taskDefinition"].endswith(":2")
    events = [(r.event, r.desired) for r in audit.query()][2:]
    assert events == [
        ("plan", "3"),
        ("apply_started", "3"),
        ("health_failed", "3"),
        ("apply_started", "2"),
        ("apply_succeeded", "2"),
    ]


def test_revert_with_no_known_good_version_holds(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The alarm was firing before the change (so the version live then is not counted good)
    and no version of the target is known to have passed its gates: the change that does
    not clear the alarm is held where it is."""
    health_alarm(aws)
    alarm_state(aws, "ALARM")
    config = with_health(
        tmp_path, BACKEND, "{cloudwatchAlarms: [leh-backend-5xx], bakeTime: 1s, onFailure: revert}"
    )
    engine, desired = service.engine(
        config, backend=3, audit=AuditLog(f"sqlite:///{tmp_path / 'trail.db'}")
    )
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.held and result.detail["held"] == "yes" and result.live_after == "3"
    assert result.error is not None and "no earlier version of backend is known" in result.error
    assert aws.proxy.seen("UpdateService") == 1


def test_the_version_whose_checks_passed_just_before_the_change_is_reverted_to(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """No record says revision 4 ever passed a gate (pinback never deployed it), but its smoke
    check passed just before the change: the failed rollback to 3 goes back to 4."""
    config = with_health(
        tmp_path,
        BACKEND,
        "{command: 'test \"$PINBACK_VERSION\" = 4', timeout: 5s, onFailure: revert}",
    )
    engine, desired = service.engine(
        config, backend=3, audit=AuditLog(f"sqlite:///{tmp_path / 'trail.db'}")
    )
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.detail.get("reverted") == "yes" and result.live_after == "4", result.error
    assert aws.proxy.seen("UpdateService") == 2


def test_a_check_failing_before_and_after_the_change_does_not_fail_it(
    service: Service, aws: Aws, site: Site, tmp_path: Path
) -> None:
    """The site answered 500 before the rollback and still does after it: the rollback did
    not break it, so its gate passes, and the trail says which check was excused."""
    site.status = 500
    config = with_health(tmp_path, FRONTEND, f"{{url: '{site.url}', timeout: 1s}}")
    audit = AuditLog(f"sqlite:///{tmp_path / 'trail.db'}")
    engine, desired = service.engine(config, audit=audit, frontend=COMMITS[1][:7])
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED, result.error
    (succeeded,) = audit.query(target="frontend", event_name="apply_succeeded")
    assert "failing before the change too" in (succeeded.reason or "")
    assert "answered 500" in (succeeded.reason or "")


def test_a_smoke_failure_still_names_the_alarms_before_and_after(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The alarms stayed OK and the smoke command failed: health_failed says both."""
    health_alarm(aws)
    config = with_health(
        tmp_path,
        BACKEND,
        "{cloudwatchAlarms: [leh-backend-5xx], bakeTime: 500ms, "
        "command: 'test \"$PINBACK_VERSION\" = 4', timeout: 5s}",
    )
    engine, desired = service.engine(
        config, backend=3, audit=AuditLog(f"sqlite:///{tmp_path / 'trail.db'}")
    )
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.held
    (failed,) = engine.audit.query(event_name="health_failed")
    assert failed.error == "smoke command exited 1 (alarms: leh-backend-5xx: OK -> OK)"


def test_a_database_is_never_reverted_even_when_asked(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """onFailure: revert on a database: the failed gate holds it where it is (a second
    migration on top of a bad one is a person's decision, DESIGN section 9), says why, and
    runs no second migration."""
    import sqlalchemy

    config = with_health(
        tmp_path,
        f"    scriptLocation: {MIGRATIONS}\n",
        f"{{command: 'test \"$PINBACK_VERSION\" = {REVISIONS[-1]}', timeout: 5s, onFailure: revert}}",
    )
    audit = AuditLog(f"sqlite:///{tmp_path / 'trail.db'}")  # the live revision passed once
    audit.record("apply_succeeded", target="database", kind="alembic", desired=REVISIONS[-1])
    engine, desired = service.engine(config, database=REVISIONS[-2], audit=audit)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED and result.detail["held"] == "yes"
    assert result.error is not None and "never reverted automatically" in result.error
    database = sqlalchemy.create_engine(service.database_url)
    with database.connect() as connection:
        live = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version"))
        assert live.scalar() == REVISIONS[-2]
    database.dispose()


def test_a_smoke_command_gets_none_of_the_controllers_secrets(
    service: Service, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The smoke command runs with PATH, HOME, LANG, PINBACK_TARGET and PINBACK_VERSION and
    the variables its env: names: not the audit URL, the AWS keys or a webhook secret."""
    monkeypatch.setenv("PINBACK_AUDIT_URL", "postgresql://pinback:hunter2@db/audit")
    monkeypatch.setenv("SMOKE_BASE_URL", "https://staging.example")
    seen = tmp_path / "smoke-env.txt"
    config = with_health(
        tmp_path, BACKEND, f"{{command: 'env > {seen}', timeout: 5s, env: [SMOKE_BASE_URL]}}"
    )
    engine, desired = service.engine(config, backend=3)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED, result.error
    printed = seen.read_text()
    assert "PINBACK_VERSION=3" in printed and "SMOKE_BASE_URL=https://staging.example" in printed
    for secret in ("hunter2", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"):
        assert secret not in printed, secret
