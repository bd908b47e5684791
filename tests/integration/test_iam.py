"""Least privilege: config/iam-policy.json is enough for everything pinback does, and every
action in it is needed. Proved against moto's IAM enforcement (STAND-INS.md).

What moto can and cannot judge decides the shape of the proof: it checks resources only
for S3 (for its other services it authorises against "*", so the test grants those actions
on "*"; the shipped policy keeps its ARNs), it names CloudWatch actions after its endpoint
(``monitoring:``), and once it enforces IAM it rejects every signed GET of its REST
services (Lambda, CloudFront) with SignatureDoesNotMatch. So S3, ECS and CloudWatch are
proved by enforcement. Every action, of every service, is also checked against the calls
pinback made in the whole run (botocore's events, ``PINBACK_AWS_CALL_LOG``), both ways.
"""

from __future__ import annotations

import copy
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.core import iam
from daemon.devtools import sandbox
from tests.stands.service import (
    COMMITS,
    IN_CI,
    REPO,
    Aws,
    Service,
    config_copy,
    health_alarm,
    pinback,
)

POLICY = json.loads((REPO / "config" / "iam-policy.json").read_text())
# Not judged by moto: ECR reads, and CodeDeploy (no blue/green service in the sandbox).
UNENFORCED = ("lambda:", "cloudfront:", "ecr:", "codedeploy:")


# HeadObject of a given VersionId needs s3:GetObjectVersion on AWS
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html#API_HeadObject_Permissions);
# moto checks it as GetObject, so its need cannot be shown here. Reading a bucket's Object
# Lock configuration needs s3:GetBucketObjectLockConfiguration on AWS
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectLockConfiguration.html);
# moto's S3 ACTION_MAP has no entry for ?object-lock and checks it as ListBucket.
MOTO_LETS_THROUGH = ("s3:GetObjectVersion", "s3:GetBucketObjectLockConfiguration")
# ECS's service deployments API (2024) is not in moto at all: pinback falls back to
# DescribeServices where it is not answered, so a denial there fails nothing. These calls
# are made against the realistic stand-in (tests/integration/test_ecs_reality.py) and
# checked by name below.
MOTO_LACKS = (
    "ecs:ListServiceDeployments",
    "ecs:DescribeServiceDeployments",
    "ecs:DescribeServiceRevisions",
    "ecs:StopServiceDeployment",
)


def for_moto(policy: dict[str, Any]) -> dict[str, Any]:
    """The policy as moto can judge it (its quirks, not AWS's rules): resources only for S3,
    CloudWatch actions named after its endpoint (monitoring:), and DeleteObjects checked
    against the bucket rather than each key."""
    adapted = copy.deepcopy(policy)
    for statement in adapted["Statement"]:
        statement["Action"] = [a.replace("cloudwatch:", "monitoring:") for a in statement["Action"]]
        if not all(a.startswith("s3:") for a in statement["Action"]):
            statement["Resource"] = ["*"]
        elif "s3:DeleteObject" in statement["Action"]:
            statement["Resource"] += [r.removesuffix("/*") for r in statement["Resource"]]
    return adapted


def without(policy: dict[str, Any], action: str) -> dict[str, Any]:
    reduced = copy.deepcopy(policy)
    for statement in reduced["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != action]
    reduced["Statement"] = [s for s in reduced["Statement"] if s["Action"]]
    return reduced


def actions() -> list[str]:
    return [a for s in POLICY["Statement"] for a in s["Action"]]


def set_auth(moto: str, allowed: str) -> None:
    request = urllib.request.Request(
        f"{moto}/moto-api/reset-auth",
        data=allowed.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def user(aws: Aws, name: str, policy: dict[str, Any]) -> dict[str, str]:
    iam = aws.client("iam")
    iam.create_user(UserName=name)  # type: ignore[attr-defined]
    iam.put_user_policy(UserName=name, PolicyName="pinback", PolicyDocument=json.dumps(policy))  # type: ignore[attr-defined]
    key = iam.create_access_key(UserName=name)["AccessKey"]  # type: ignore[attr-defined]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


@pytest.fixture
def enforced(
    service: Service, aws: Aws, tmp_path: Path
) -> Iterator[tuple[Path, dict[str, dict[str, str]]]]:
    """Users made while moto does not check (admin, pinback, and one per removed action),
    then every request checked until the test ends."""
    health_alarm(aws)
    # moto rejects signed GETs of Lambda and CloudFront once it enforces IAM, so the Lambda
    # target and the invalidation are left out here; their actions are checked by name below.
    lambda_target = (
        (REPO / "config" / "pinback.yaml")
        .read_text()
        .split("  ai-worker:", 1)[1]
        .split("  database:", 1)[0]
    )
    config = config_copy(
        tmp_path,
        {
            "    timeout: 15m\n": "    timeout: 15m\n    health: {cloudwatchAlarms: [leh-backend-5xx], bakeTime: 100ms}\n",
            "  ai-worker:" + lambda_target: "",
            "    distributionIdEnv: CLOUDFRONT_DISTRIBUTION_ID\n": "",
            "  url: sqlite:///../.sandbox/audit.db\n": "  url: sqlite:///../.sandbox/audit.db\n"
            "  anchor: {bucket: leh-audit-anchors}\n",
        },
    )
    sandbox.seed_anchor_bucket(aws.moto, "leh-audit-anchors")
    users = {
        "admin": user(
            aws,
            "admin",
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            },
        )
    }
    users["pinback"] = user(aws, "pinback", for_moto(POLICY))
    for index, action in enumerate(actions()):
        users[action] = user(aws, f"without-{index}", for_moto(without(POLICY, action)))
    set_auth(aws.moto, "0")
    try:
        yield config, users
    finally:
        set_auth(aws.moto, "inf")


OLDER = {"frontend": COMMITS[1][:7], "backend": 3}


def everything(service: Service, config: Path, credentials: dict[str, str]) -> list[int]:
    """Every AWS-facing thing pinback does: plan (with the frontend's direction), apply a
    rollback of the three AWS targets (health alarms included), list versions, anchor the
    audit trail and verify it against its anchors."""
    pins = str(service.pins(**OLDER))
    planned = pinback(
        "plan", "-o", "json", "--config", str(config), "--state", pins, env=credentials
    )
    actions = json.loads(planned.stdout or "{}").get("actions", [])
    # The frontend's direction comes from its deploy history, which is read when allowed
    # and skipped (a courtesy, never a block) when not: 0 only when it was read. Without
    # the history the direction falls back to the builds' ages, which also says "back"
    # whenever the sandbox's builds were uploaded in different seconds (a loaded machine),
    # so the plan's note that the history could not be read is what tells the two apart.
    knows = any(
        a["target"] == "frontend"
        and a["direction"] == "back"
        and not any("deploy history" in note for note in a.get("notes", []))
        for a in actions
    )
    runs = [
        pinback("apply", "--yes", "--config", str(config), "--state", pins, env=credentials),
        *[
            pinback("versions", t, "--config", str(config), env=credentials)
            for t in ("frontend", "backend")
        ],
        pinback("audit", "--config", str(config), "anchor", env=credentials),
        pinback("audit", "--config", str(config), "verify", env=credentials),
    ]
    return [0 if knows else 1, *[r.returncode for r in runs]]


def restore(service: Service, config: Path, admin: dict[str, str]) -> None:
    current = str(service.pins(frontend=COMMITS[-1][:7], backend=4))
    done = pinback("apply", "--yes", "--config", str(config), "--state", current, env=admin)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_policy_is_enough(
    enforced: tuple[Path, dict[str, dict[str, str]]], service: Service
) -> None:
    config, users = enforced
    assert everything(service, config, users["pinback"]) == [0, 0, 0, 0, 0, 0]


def test_every_action_is_needed(
    enforced: tuple[Path, dict[str, dict[str, str]]], service: Service
) -> None:
    """Without any one action, something pinback does fails, and fails for want of it: AWS
    (moto) refused one of its requests for want of a permission (seen at the fault proxy),
    not some other error the removal happened to cause."""
    config, users = enforced
    unneeded = []
    for action in actions():
        if action.startswith(UNENFORCED) or action in (*MOTO_LETS_THROUGH, *MOTO_LACKS):
            continue
        service.aws.proxy.clear()
        codes = everything(service, config, users[action])
        if not any(codes) or not service.aws.proxy.denials:
            unneeded.append(f"{action} (exit codes {codes}, refused {service.aws.proxy.denials})")
        restore(service, config, users["admin"])
    assert unneeded == [], f"granted but never denied without: {unneeded}"


def whole_suite(session: pytest.Session) -> bool:
    """This run holds every test module and deselected nothing (no -k, no node ids)."""
    ran = {str(item.path.relative_to(REPO)) for item in session.items}
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py")}
    deselected = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped_some = bool(deselected and deselected.stats.get("deselected"))
    return ran == on_disk and not skipped_some


@pytest.mark.after_everything
def test_what_the_suite_called_is_what_the_policy_grants(
    request: pytest.FixtureRequest, aws_call_log: Path
) -> None:
    """Both directions, from botocore's own events in every pinback process of this run:
    each AWS call pinback made is granted, and (over the whole suite) each grant was called.
    Whether a grant is *needed* (its removal yields AccessDenied) is
    test_every_action_is_needed's question, where moto can judge it."""
    called = set(aws_call_log.read_text().split())
    granted = set(actions())
    assert called, "no AWS call was logged: is PINBACK_AWS_CALL_LOG still honoured?"
    assert sorted(called - granted) == [], "called but not granted"
    if not whole_suite(request.session):
        reason = "whether every grant is called needs the whole suite: run it all"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true)")
        pytest.skip(reason)
    assert sorted(granted - called) == [], "granted but never called by any test"


@pytest.mark.parametrize(
    ("service", "operation", "params", "needed"),
    [
        ("ecs", "UpdateService", {}, ["ecs:UpdateService"]),
        ("s3", "HeadObject", {"Key": "index.html"}, ["s3:GetObject"]),
        ("s3", "HeadObject", {"VersionId": "v1"}, ["s3:GetObjectVersion"]),
        (
            "s3",
            "CopyObject",
            {"CopySource": "b/k?versionId=v1"},
            ["s3:PutObject", "s3:GetObjectVersion"],
        ),
        (
            "s3",
            "CopyObject",
            {"CopySource": {"Bucket": "b", "Key": "k"}},
            ["s3:PutObject", "s3:GetObject"],
        ),
        ("s3", "ListObjectVersions", {}, ["s3:ListBucketVersions"]),
        ("s3", "DeleteObjects", {}, ["s3:DeleteObject"]),
    ],
)
def test_a_call_names_the_actions_aws_checks(
    service: str, operation: str, params: dict[str, object], needed: list[str]
) -> None:
    """S3 names its actions after what they touch, a given version included."""
    assert iam.actions_for(service, operation, params) == needed
