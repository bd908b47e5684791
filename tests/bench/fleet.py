"""A large fleet: 1,000 ECS services and 1,000 Lambda functions over 100 ECR repositories.

Measures ``pinback plan`` as a child process: wall time, its peak memory, and the AWS
calls it made (counted at the fault proxy, so nothing is left out). 5% of each kind
is pinned to an older version, so preflight runs for those.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from daemon.devtools import sandbox
from tests.bench.common import log, median, pinback_args, reset_moto, run_child
from tests.stands.fault_proxy import FaultProxy

SERVICES = 1000
FUNCTIONS = 1000
REPOSITORIES = 100
CLUSTERS = 10
TAGS = ("v1", "v2", "v3")
DRIFT_EVERY = 20  # one target in 20 pinned to an older version
ROUNDS = 3


def seed(endpoint: str) -> tuple[str, str]:
    """Seed the fleet; returns (config text, pin file text)."""
    ecs = sandbox.client(endpoint, "ecs")
    lam = sandbox.client(endpoint, "lambda")
    role = sandbox.lambda_role(endpoint)
    targets, pins = [], []
    for repo in range(REPOSITORIES):
        sandbox.seed_images(endpoint, f"fleet-repo-{repo:03d}", TAGS)
    for cluster in range(CLUSTERS):
        ecs.create_cluster(clusterName=f"fleet-{cluster}")
    log(f"seeding {SERVICES} ECS services")
    for index in range(SERVICES):
        family, cluster = f"svc-{index:04d}", f"fleet-{index % CLUSTERS}"
        for _ in range(2):
            ecs.register_task_definition(
                family=family, containerDefinitions=[{"name": "a", "image": "a", "memory": 64}]
            )
        ecs.create_service(
            cluster=cluster, serviceName=family, taskDefinition=f"{family}:2", desiredCount=2
        )
        targets.append(f"  {family}: {{kind: ecs, cluster: {cluster}, service: {family}}}")
        pins.append(f"  {family}: {{revision: {1 if index % DRIFT_EVERY == 0 else 2}}}")
    log(f"seeding {FUNCTIONS} Lambda functions")
    for index in range(FUNCTIONS):
        name, repo = f"fn-{index:04d}", f"fleet-repo-{index % REPOSITORIES:03d}"
        uri = f"{sandbox.ACCOUNT}.dkr.ecr.{sandbox.REGION}.amazonaws.com/{repo}:{TAGS[-1]}"
        lam.create_function(
            FunctionName=name, Role=role, PackageType="Image", Code={"ImageUri": uri}
        )
        targets.append(f"  {name}: {{kind: lambda, function: {name}, repository: {repo}}}")
        pins.append(f"  {name}: {{imageTag: {TAGS[0] if index % DRIFT_EVERY == 0 else TAGS[-1]}}}")
    config = (
        "apiVersion: pinback/v1\nkind: Config\naws: {region: ap-northeast-2}\ntargets:\n"
        + "\n".join(targets)
        + "\n"
    )
    state = "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n" + "\n".join(pins) + "\n"
    return config, state


def measure(endpoint: str) -> dict[str, Any]:
    reset_moto(endpoint)
    config_text, state_text = seed(endpoint)
    folder = Path(tempfile.mkdtemp(prefix="pinback-fleet-"))
    (folder / "pinback.yaml").write_text(config_text)
    (folder / "pins.yaml").write_text(state_text)
    args = pinback_args(
        "plan",
        "-o",
        "json",
        "--config",
        str(folder / "pinback.yaml"),
        "--state",
        str(folder / "pins.yaml"),
    )
    credentials = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    times, memory = [], []
    for round_ in range(ROUNDS):
        log(f"plan of {SERVICES + FUNCTIONS} targets, round {round_ + 1}/{ROUNDS}")
        run = run_child(args, {"AWS_ENDPOINT_URL": endpoint, **credentials})
        assert run.returncode == 2, run.stderr[-2000:]
        document = json.loads(run.stdout)
        assert document["changes"] == (SERVICES + FUNCTIONS) // DRIFT_EVERY, document["changes"]
        times.append(run.seconds)
        memory.append(run.max_rss_mib)
    # One more round through the fault proxy counts every request pinback makes. It is not
    # timed: the proxy shares this process, and the GIL, with moto.
    proxy = FaultProxy(endpoint).start()
    try:
        counted = run_child(args, {"AWS_ENDPOINT_URL": proxy.url, **credentials})
        assert counted.returncode == 2, counted.stderr[-2000:]
        operations = Counter(
            c.split(" ")[0] or " ".join(c.split(" ")[1:3]).split("?")[0] for c in proxy.calls
        )
    finally:
        proxy.stop()
    calls = sum(operations.values())
    targets = SERVICES + FUNCTIONS
    return {
        "targets": targets,
        "drifted_targets": targets // DRIFT_EVERY,
        "plan_s": median(times),
        "plan_peak_rss_mib": round(max(memory), 1),
        "aws_calls": calls,
        "aws_calls_per_target": round(calls / targets, 3),
        "calls_by_operation": dict(operations.most_common()),
    }
