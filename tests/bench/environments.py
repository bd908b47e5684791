"""Two environments of 1,000 targets each in one controller (DESIGN §10).

The fleet of ``tests.bench.fleet`` split in two: the config names 1,000 targets (500 ECS
services, 500 Lambda functions) and ``staging`` overrides each one's service or function
with the other half's, so each environment reaches its own 1,000 resources. Measured: one
``pinback run`` for both (observe mode) from start to the first pass of each environment
finished, with its peak memory; and ``pinback plan --env NAME`` of each as a child process.
"""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench import fleet
from tests.bench.common import log, pinback_args, reset_moto, run_child
from tests.bench.controller import launch, passes, peak_mib
from tests.stands.waiting import eventually

HALF = 500  # of each kind, per environment


def write(folder: Path) -> Path:
    """The config and both pin files for the seeded fleet; returns the config's path."""
    targets, overrides, pins = [], [], []
    for index in range(HALF):
        svc, other = f"svc-{index:04d}", f"svc-{index + HALF:04d}"
        cluster, other_cluster = (f"fleet-{i % fleet.CLUSTERS}" for i in (index, index + HALF))
        targets.append(f"  {svc}: {{kind: ecs, cluster: {cluster}, service: {svc}}}")
        overrides.append(f"      {svc}: {{cluster: {other_cluster}, service: {other}}}")
        pins.append(f"  {svc}: {{revision: {1 if index % fleet.DRIFT_EVERY == 0 else 2}}}")
    for index in range(HALF):
        fn, other = f"fn-{index:04d}", f"fn-{index + HALF:04d}"
        repo, other_repo = (
            f"fleet-repo-{i % fleet.REPOSITORIES:03d}" for i in (index, index + HALF)
        )
        targets.append(f"  {fn}: {{kind: lambda, function: {fn}, repository: {repo}}}")
        overrides.append(f"      {fn}: {{function: {other}, repository: {other_repo}}}")
        tag = fleet.TAGS[0] if index % fleet.DRIFT_EVERY == 0 else fleet.TAGS[-1]
        pins.append(f"  {fn}: {{imageTag: {tag}}}")
    (folder / "pinback.yaml").write_text(
        "apiVersion: pinback/v1\nkind: Config\naws: {region: ap-northeast-2}\n"
        "daemon: {mode: observe, resyncInterval: 10m}\ntargets:\n"
        + "\n".join(targets)
        + "\nenvironments:\n  staging:\n    pins: staging.yaml\n    targets:\n"
        + "\n".join(overrides)
        + "\n  prod:\n    pins: prod.yaml\n"
    )
    for env in ("staging", "prod"):
        (folder / f"{env}.yaml").write_text(
            "apiVersion: pinback/v1\nkind: DesiredVersions\n"
            f"metadata: {{environment: {env}}}\nspec:\n" + "\n".join(pins) + "\n"
        )
    return folder / "pinback.yaml"


def measure(endpoint: str) -> dict[str, Any]:
    reset_moto(endpoint)
    fleet.seed(endpoint)
    folder = Path(tempfile.mkdtemp(prefix="pinback-environments-"))
    config = write(folder)
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    drifted = 2 * HALF // fleet.DRIFT_EVERY
    plans: dict[str, float] = {}
    plan_rss: list[float] = []
    for name in ("staging", "prod"):
        log(f"pinback plan --env {name} of {2 * HALF} targets")
        run = run_child(pinback_args("plan", "--env", name, "--config", str(config)), env)
        assert run.returncode == 2, run.stderr[-2000:]
        assert f"{drifted} change" in run.stdout, run.stdout[-500:]
        plans[name] = run.seconds
        plan_rss.append(run.max_rss_mib)
    log("pinback run of both environments: start to the first pass of each")
    log_path = folder / "controller.log"
    started = time.monotonic()
    process = launch(["--config", str(config)], env, log_path)
    try:
        eventually(
            lambda: passes(log_path) >= 2,
            timeout=300,
            what="a first pass of each environment",
        )
        first_passes = time.monotonic() - started
        peak = peak_mib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    return {
        "environments": 2,
        "targets_per_environment": 2 * HALF,
        "drifted_per_environment": drifted,
        "controller_first_pass_both_s": round(first_passes, 2),
        "controller_peak_rss_mib": round(peak, 1),
        "cli_plan_s": {k: round(v, 2) for k, v in plans.items()},
        "cli_plan_peak_rss_mib": round(max(plan_rss), 1),
    }
