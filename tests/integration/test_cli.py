"""The command line as a person runs it: a child process against the seeded service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, pinback, seed_service

OLDER = {"frontend": COMMITS[2][:7], "backend": 3, "ai_worker": TAGS[2], "database": REVISIONS[-2]}


def test_plan_exits_0_when_everything_is_at_its_pin(service: Service) -> None:
    done = pinback("plan", "--state", str(service.current_pins()))
    assert done.returncode == 0, done.stderr
    assert "No changes" in done.stdout


def test_plan_exits_2_with_changes_and_json_lists_them_in_order(service: Service) -> None:
    """``plan -o json``: the contract's fields, services before the database on a roll-back."""
    done = pinback("plan", "-o", "json", "--state", str(service.pins(**OLDER)))
    assert done.returncode == 2, done.stderr
    document = json.loads(done.stdout)
    assert document["changes"] == 4
    assert [a["target"] for a in document["actions"]] == [
        "frontend",
        "backend",
        "ai-worker",
        "database",
    ]
    database = document["actions"][-1]
    assert database["direction"] == "back" and database["destructive"] is False
    assert set(database["after"]) == {"frontend", "backend", "ai-worker"}


def test_apply_rolls_all_four_back_then_plan_is_clean(service: Service, aws: Aws) -> None:
    """The acceptance path: older pins, ``apply --yes``, every target moves, ``plan`` exits 0."""
    pins = service.pins(**OLDER)
    done = pinback("apply", "--yes", "--state", str(pins))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("  ok ") == 4
    assert "ECS deployment" in done.stderr and "now at 3" in done.stderr  # progress while it waits
    after = pinback("plan", "--state", str(pins))
    assert after.returncode == 0, after.stdout + after.stderr
    live = aws.client("ecs").describe_services(cluster="leh-cluster", services=["leh-backend"])  # type: ignore[attr-defined]
    assert live["services"][0]["taskDefinition"].endswith(":3")


def test_apply_without_yes_off_a_terminal_changes_nothing(service: Service, aws: Aws) -> None:
    """No confirmation possible and no --yes: refuse with a sentence, make no mutating call."""
    pins = service.pins(backend=3)
    aws.proxy.clear()
    done = pinback("apply", "--state", str(pins), input="")
    assert done.returncode == 1
    assert "refusing to apply without --yes" in done.stderr
    assert aws.proxy.seen("UpdateService") == 0


@pytest.mark.parametrize("verb", ["plan", "apply", "status"])
def test_invalid_pin_file_makes_no_call_at_all(service: Service, aws: Aws, verb: str) -> None:
    """An invalid pin file stops every verb before any AWS or database call, with line and column."""
    path = service.folder / "bad.yaml"
    path.write_text(
        "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n  backend:\n    revision: three\n"
    )
    aws.proxy.clear()
    done = (
        pinback(verb, "--yes", "--state", str(path))
        if verb == "apply"
        else pinback(verb, "--state", str(path))
    )
    assert done.returncode == 1
    assert "bad.yaml:5:5: spec.backend.revision" in done.stderr
    assert "Traceback" not in done.stderr
    assert aws.proxy.calls == []


def test_status_json_shows_desired_and_live(service: Service) -> None:
    done = pinback("status", "-o", "json", "--state", str(service.pins(backend=3)))
    assert done.returncode == 0, done.stderr
    rows = {row["target"]: row for row in json.loads(done.stdout)["targets"]}
    assert rows["backend"]["desired"] == "3" and rows["backend"]["live"] == "4"
    assert rows["backend"]["inSync"] is False and rows["backend"]["owner"] == "H"
    assert rows["ai-worker"]["desired"] is None and rows["ai-worker"]["live"] == TAGS[-1]


@pytest.mark.parametrize(
    ("target", "newest", "count"),
    [
        ("backend", "4", 4),
        ("ai-worker", TAGS[-1], 4),
        ("database", REVISIONS[-1], 5),
        ("frontend", None, 4),
    ],
)
def test_versions_lists_newest_first(
    service: Service, target: str, newest: str | None, count: int
) -> None:
    """``versions -o json``: what one can roll back to, the live one marked."""
    done = pinback("versions", target, "-o", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["target"] == target and len(document["versions"]) == count
    if newest is not None:
        assert document["versions"][0]["version"] == newest
    assert sum(v["live"] for v in document["versions"]) == 1


def test_unknown_target_is_one_sentence(service: Service) -> None:
    done = pinback("plan", "--target", "payments", "--state", str(service.current_pins()))
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "pinback: no target named 'payments' in the config (declared: frontend, backend, ai-worker, database)"
    )


def test_missing_config_file_is_one_sentence(tmp_path: object) -> None:
    done = pinback("plan", "--config", "/nonexistent/pinback.yaml")
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "/nonexistent/pinback.yaml:1:1: cannot read the file: No such file or directory"
    )


def test_throttling_is_retried_by_botocore(service: Service, aws: Aws) -> None:
    """Two throttled UpdateService calls are retried; the rollback still succeeds."""
    pins = service.pins(backend=3)
    aws.proxy.clear()
    aws.proxy.add("UpdateService", "throttle", count=2)
    done = pinback("apply", "--yes", "--state", str(pins))
    assert done.returncode == 0, done.stderr
    assert aws.proxy.seen("UpdateService") == 3


def test_a_failing_target_does_not_stop_the_others(service: Service, aws: Aws) -> None:
    """Lambda answering 5xx on every try: ai-worker fails, the rest apply, exit 1."""
    pins = service.pins(backend=3, ai_worker=TAGS[2], frontend=COMMITS[2])
    aws.proxy.add("PUT /2015-03-31/functions/leh-ai-worker/code", "error500", count=-1)
    done = pinback("apply", "--yes", "-o", "json", "--state", str(pins))
    assert done.returncode == 1
    results = {r["target"]: r for r in json.loads(done.stdout)["results"]}
    assert results["backend"]["result"] == "applied" and results["frontend"]["result"] == "applied"
    assert (
        results["ai-worker"]["result"] == "failed"
        and "injected 500" in results["ai-worker"]["error"]
    )
    assert aws.proxy.seen("/functions/leh-ai-worker/code") == 3  # AWS_MAX_ATTEMPTS=3


def test_database_down_fails_alone(service: Service, aws: Aws) -> None:
    """With the database unreachable, the database target fails and the AWS targets still roll back."""
    pins = service.pins(**OLDER)
    secret_url = "postgresql://app:hunter2secret@127.0.0.1:1/app"
    done = pinback("apply", "--yes", "--state", str(pins), env={"DATABASE_URL": secret_url})
    assert done.returncode == 1
    assert done.stdout.count("  ok ") == 3
    assert (
        "database: live state unknown: cannot reach the database postgresql://app:***@127.0.0.1:1/app"
        in done.stdout
    )
    assert "hunter2secret" not in done.stdout + done.stderr


def test_database_password_never_printed(
    aws: Aws, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password in DATABASE_URL appears in no output of plan, apply, status or versions.

    On PostgreSQL, where a URL carries one (an SQLite URL has none to plant); the server
    trusts local connections here, so the planted password is sent and ignored."""
    from sqlalchemy.engine import make_url

    service = seed_service(aws, pg_url, tmp_path, monkeypatch)
    given = make_url(pg_url)
    secret = str(given.password or "pl4nted-s3cret")  # PINBACK_TEST_PG_URL may carry a real one
    url = given.set(password=secret).render_as_string(hide_password=False)
    pins = str(service.pins(**OLDER))
    env = {"DATABASE_URL": url}
    outputs = [
        pinback("plan", "-o", "json", "--state", pins, env=env),
        pinback("apply", "--yes", "--state", pins, env=env),
        pinback("status", "-o", "json", "--state", pins, env=env),
        pinback("versions", "database", "-o", "json", env=env),
    ]
    for done in outputs:
        assert secret not in done.stdout + done.stderr
    assert outputs[1].returncode == 0, outputs[1].stderr


def test_plan_and_apply_with_target_touch_only_that_target(service: Service, aws: Aws) -> None:
    """Four older pins, `--target backend`: the plan lists backend alone and the apply
    changes backend alone; the others still differ from their pins afterwards."""
    pins = str(service.pins(**OLDER))
    planned = pinback("plan", "--target", "backend", "-o", "json", "--state", pins)
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert [a["target"] for a in json.loads(planned.stdout)["actions"]] == ["backend"]
    applied = pinback("apply", "--yes", "--target", "backend", "--state", pins)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert aws.proxy.seen("UpdateService") == 1
    assert aws.proxy.seen("/code") == 0 and aws.proxy.seen("/invalidation") == 0
    rest = json.loads(pinback("plan", "-o", "json", "--state", pins).stdout)
    assert sorted(a["target"] for a in rest["actions"]) == ["ai-worker", "database", "frontend"]


def test_schema_file_prints_the_one_asked_for() -> None:
    config = json.loads(pinback("schema", "--file", "config").stdout)
    state = json.loads(pinback("schema", "--file", "state").stdout)
    assert "targets" in config["properties"] and "spec" not in config["properties"]
    assert "spec" in state["properties"] and "targets" not in state["properties"]
