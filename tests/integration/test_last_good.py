"""`pinback rollback --last-good` and `deny:`: the whole stack back to the last moment it was
good, from the audit trail the real applies wrote, and a known-bad version refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.test_rollback import repo_pins
from tests.stands.gitrepo import git
from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, audit_json, pinback


def applied(pins: Path) -> subprocess.CompletedProcess[str]:
    return pinback("apply", "--yes", "--state", str(pins))


def live(pins: Path) -> dict[str, str]:
    done = pinback("status", "-o", "json", "--state", str(pins))
    assert done.returncode == 0, done.stderr
    return {row["target"]: row["live"] for row in json.loads(done.stdout)["targets"]}


def test_last_good_after_three_changes_and_a_failed_deploy(service: Service, aws: Aws) -> None:
    """Three pin changes applied, then a fourth whose backend deploy ECS refuses: the last
    good moment is after the third, and one rewrite takes all four kinds back to it, the
    services first and the database last (its downgrade waits for them)."""
    pins = service.pins(
        frontend=COMMITS[-2][:7], backend=3, ai_worker=TAGS[-2], database=REVISIONS[-2]
    )
    assert applied(pins).returncode == 0
    service.pins(frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-2], database=REVISIONS[-2])
    assert applied(pins).returncode == 0
    good = {
        "frontend": COMMITS[-1],
        "backend": "4",
        "ai-worker": TAGS[-2],
        "database": REVISIONS[-2],
    }
    service.pins(frontend=COMMITS[-1][:7], backend=4, ai_worker=TAGS[-2], database=REVISIONS[-2])
    assert applied(pins).returncode == 0
    assert live(pins) == good
    # Every kind moves; ECS refuses the new backend deployment (an IAM denial, say).
    aws.proxy.add(
        "UpdateService",
        "answer",
        count=-1,
        status=400,
        error="AccessDeniedException",
        message="not authorized to perform ecs:UpdateService",
    )
    service.pins(frontend=COMMITS[-3][:7], backend=2, ai_worker=TAGS[-1], database=REVISIONS[-1])
    assert applied(pins).returncode == 1
    aws.proxy.clear()
    assert live(pins)["backend"] == "4" and live(pins)["database"] == REVISIONS[-1]

    done = pinback("rollback", "--last-good", "--state", str(pins))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("last good: ")
    assert [line.split(" in ")[0] for line in done.stdout.splitlines()[1:]] == [
        f"frontend: {COMMITS[-3][:7]} -> {COMMITS[-1]}",
        "backend: 2 -> 4",
        f"ai-worker: {TAGS[-1]} -> {TAGS[-2]}",
        f"database: {REVISIONS[-1]} -> {REVISIONS[-2]}",
    ]
    assert pinback("validate", "--state", str(pins)).returncode == 0

    started = len(audit_json("--event", "apply_started"))
    assert applied(pins).returncode == 0
    assert live(pins) == good
    order = [r["target"] for r in audit_json("--event", "apply_started")[started:]]
    assert order[-1] == "database" and set(order) == {"frontend", "ai-worker", "database"}
    again = pinback("rollback", "--last-good", "--state", str(pins))
    assert again.returncode == 0 and "nothing to change" in again.stdout


def test_last_good_before_a_time_and_when_there_is_none(service: Service, aws: Aws) -> None:
    """``--before`` looks only at the trail up to then; an empty trail has no good moment:
    exit 1 with a sentence, and the pin file is left as it was."""
    pins = service.current_pins()
    before = pins.read_text()
    done = pinback("rollback", "--last-good", "--state", str(pins))
    assert done.returncode == 1
    assert "the audit trail has no moment when all of frontend, backend" in done.stderr
    assert pins.read_text() == before
    service.pins(frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-1], database=REVISIONS[-1])
    assert applied(pins).returncode == 0  # a one-shot apply records only the backend's change
    early = pinback(
        "rollback", "--last-good", "--before", "2020-01-01T00:00:00Z", "--state", str(pins)
    )
    assert early.returncode == 1 and "before 2020-01-01T00:00:00Z" in early.stderr
    refused = pinback("rollback", "backend", "--last-good", "--state", str(pins))
    assert refused.returncode == 1 and "--last-good takes no TARGET" in refused.stderr


def test_rollback_deny_blocks_the_version_left_and_records_who(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """``rollback --deny`` pins the older version and denies the one left, in one commit;
    the denial is recorded; pinning the denied version again is blocked with a sentence
    naming who denied it and why, and nothing is changed."""
    pins = repo_pins(tmp_path)
    done = pinback(
        "rollback",
        "ai-worker",
        "--steps",
        "1",
        "--deny",
        "--reason",
        "INC-231 worker crash",
        "--commit",
        "--state",
        str(pins),
    )
    assert done.returncode == 0, done.stderr
    assert f"denied ai-worker {TAGS[-1]}" in done.stdout
    text = pins.read_text()
    assert f"imageTag: {TAGS[-2]}" in text and f"deny:\n      - {TAGS[-1]}" in text
    (record,) = audit_json("--event", "denied")
    assert (record["target"], record["desired"], record["reason"]) == (
        "ai-worker",
        TAGS[-1],
        "INC-231 worker crash",
    )
    author = git(tmp_path, "log", "-1", "--format=%an <%ae>")
    assert record["actor"] == author  # the author of the commit that denied it

    assert applied(pins).returncode == 0
    assert live(pins)["ai-worker"] == TAGS[-2]

    # A CI job pins the bad version again: blocked, naming who and why; nothing changes.
    pins.write_text(text.replace(f"imageTag: {TAGS[-2]}", f"imageTag: {TAGS[-1]}"))
    plan = pinback("plan", "-o", "json", "--state", str(pins))
    (action,) = json.loads(plan.stdout)["actions"]
    assert action["blocked"].startswith(
        f"{TAGS[-1]} is denied for ai-worker (denied by {author} at "
    )
    assert action["blocked"].endswith(": INC-231 worker crash); pin another version")
    applied(pins)
    assert live(pins)["ai-worker"] == TAGS[-2]
    assert aws.proxy.seen("PUT /2015-03-31/functions/leh-ai-worker/code") == 1  # the rollback only
