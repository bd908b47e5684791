"""deploy/pinback.yaml, the CloudFormation template for ECS Fargate: cfn-lint finds nothing,
the task role grants exactly config/iam-policy.json, and the container agrees with the
Dockerfile and the controller (port, health endpoint, time to stop)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from daemon.spec import load_config
from tests.stands.service import CONFIG, IN_CI, REPO

TEMPLATE = REPO / "deploy" / "pinback.yaml"


def cfn_lint() -> str:
    found = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which(
        "cfn-lint"
    )
    if found is None:
        if IN_CI:
            pytest.fail("cfn-lint is required under CI=true (installed with moto)")
        pytest.skip("cfn-lint is not installed")
    return found


def test_cfn_lint_finds_nothing() -> None:
    done = subprocess.run([cfn_lint(), str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_task_role_grants_the_shipped_policy_and_the_container_matches() -> None:
    resources = yaml.safe_load(TEMPLATE.read_text())["Resources"]
    (policy,) = resources["TaskRole"]["Properties"]["Policies"]
    assert policy["PolicyDocument"] == json.loads((REPO / "config" / "iam-policy.json").read_text())
    (container,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    dockerfile = (REPO / "Dockerfile").read_text()
    port = container["PortMappings"][0]["ContainerPort"]
    assert f"EXPOSE {port}" in dockerfile and f":{port}/healthz" in " ".join(
        container["HealthCheck"]["Command"]
    )
    assert container["ReadonlyRootFilesystem"] is True  # it writes only its volume
    grace = load_config(CONFIG).model.daemon.shutdown_grace
    assert container["StopTimeout"] > grace  # ECS waits for the safe point before SIGKILL


def test_the_anchors_bucket_is_locked_and_is_the_one_the_role_may_write() -> None:
    """An anchor bucket without Object Lock would be refused by the controller at start: the
    template's has it, in compliance mode, and the task role writes anchors to it alone."""
    resources = yaml.safe_load(TEMPLATE.read_text())["Resources"]
    bucket = resources["AuditAnchors"]
    assert bucket["DeletionPolicy"] == "Retain"
    lock = bucket["Properties"]["ObjectLockConfiguration"]
    assert bucket["Properties"]["ObjectLockEnabled"] is True
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    (policy,) = resources["TaskRole"]["Properties"]["Policies"]
    (anchors,) = [
        s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "AuditAnchorsWrite"
    ]
    name = bucket["Properties"]["BucketName"]
    assert anchors["Resource"] == [f"arn:aws:s3:::{name}/pinback/anchors/*"]
