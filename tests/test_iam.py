"""Least privilege: config/iam-policy.json is enough for everything pinback does, and every
action in it is needed. Proved against moto's IAM enforcement (STAND-INS.md).

What moto can and cannot judge decides the shape of the proof: it checks resources only
for S3 (for its other services it authorises against "*", so the test grants those actions
on "*"; the shipped policy keeps its ARNs), it names CloudWatch actions after its endpoint
(``monitoring:``), and once it enforces IAM it rejects every signed GET of its REST
services (Lambda, CloudFront) with SignatureDoesNotMatch. So S3, ECS and CloudWatch are
proved by enforcement; the Lambda, ECR (read only for the Lambda target) and CloudFront
actions are checked against the calls the drivers make.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import COMMITS, REPO, Aws, Service, config_copy, health_alarm, pinback

POLICY = json.loads((REPO / "config" / "iam-policy.json").read_text())
# Not judged by moto: ECR reads, and CodeDeploy (no blue/green service in the sandbox).
UNENFORCED = ("lambda:", "cloudfront:", "ecr:", "codedeploy:")


# HeadObject of a given VersionId needs s3:GetObjectVersion on AWS
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html#API_HeadObject_Permissions);
# moto checks it as GetObject, so its need cannot be shown here.
MOTO_LETS_THROUGH = ("s3:GetObjectVersion",)


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
        },
    )
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
    rollback of the three AWS targets (health alarms included), list versions."""
    pins = str(service.pins(**OLDER))
    planned = pinback(
        "plan", "-o", "json", "--config", str(config), "--state", pins, env=credentials
    )
    actions = json.loads(planned.stdout or "{}").get("actions", [])
    # The frontend's direction comes from its deploy history, which is read when allowed
    # and skipped (a courtesy, never a block) when not: 0 only when it was read.
    knows = any(a["target"] == "frontend" and a["direction"] == "back" for a in actions)
    codes = [
        0 if knows else 1,
        pinback(
            "apply", "--yes", "--config", str(config), "--state", pins, env=credentials
        ).returncode,
        *[
            pinback("versions", t, "--config", str(config), env=credentials).returncode
            for t in ("frontend", "backend")
        ],
    ]
    return codes


def restore(service: Service, config: Path, admin: dict[str, str]) -> None:
    current = str(service.pins(frontend=COMMITS[-1][:7], backend=4))
    done = pinback("apply", "--yes", "--config", str(config), "--state", current, env=admin)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_policy_is_enough(
    enforced: tuple[Path, dict[str, dict[str, str]]], service: Service
) -> None:
    config, users = enforced
    assert everything(service, config, users["pinback"]) == [0, 0, 0, 0]


def test_every_action_is_needed(
    enforced: tuple[Path, dict[str, dict[str, str]]], service: Service
) -> None:
    """Without any one action, something pinback does fails."""
    config, users = enforced
    unneeded = []
    for action in actions():
        if action.startswith(UNENFORCED) or action in MOTO_LETS_THROUGH:
            continue
        codes = everything(service, config, users[action])
        if not any(codes):
            unneeded.append(action)
        restore(service, config, users["admin"])
    assert unneeded == [], f"granted but never needed: {unneeded}"


@pytest.mark.parametrize(
    ("prefix", "driver"),
    [
        ("lambda:", "aws_lambda.py"),
        ("ecr:", "aws_lambda.py"),
        ("cloudfront:", "frontend.py"),
        ("codedeploy:", "codedeploy.py"),
    ],
)
def test_unprovable_actions_are_the_ones_the_driver_calls(prefix: str, driver: str) -> None:
    """Where moto cannot judge, the policy grants exactly the operations the driver calls."""
    source = (REPO / "daemon" / "drivers" / driver).read_text()
    granted = {a.split(":", 1)[1] for a in actions() if a.startswith(prefix)}
    called = {op for op in granted if re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower() in source}
    assert granted and called == granted
