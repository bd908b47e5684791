"""The controller: pin-file write to first mutating AWS call, and the cost of resyncing a fleet."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from daemon.devtools import sandbox
from tests.bench import fleet
from tests.bench.common import REPO, own_config, reset_moto
from tests.stands.fault_proxy import FaultProxy
from tests.stands.waiting import eventually

EDITS = 50
RESYNCS = 10


def start(config: Path, pins: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    return launch(["--config", str(config), "--state", str(pins)], env, log_path)


def launch(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``pinback run ARGS`` on a free port, logging to ``log_path``."""
    with log_path.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "daemon", "run", *args, "--listen", "127.0.0.1:0"],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def passes(log_path: Path) -> int:
    return log_path.read_text().count('"pass_finished"')


def pin_text(revision: int) -> str:
    return (
        "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n"
        f"  backend:\n    revision: {revision}\n"
    )


def latency(endpoint: str) -> dict[str, Any]:
    """Write the pin, time until the UpdateService request reaches AWS; 50 edits."""
    reset_moto(endpoint)
    folder = Path(tempfile.mkdtemp(prefix="pinback-latency-"))
    env = sandbox.seed_all(
        endpoint, f"sqlite:///{folder / 'app.db'}", REPO / "config" / "migrations"
    )
    proxy = FaultProxy(endpoint).start()
    env["AWS_ENDPOINT_URL"] = proxy.url
    pins = folder / "pins.yaml"
    pins.write_text(pin_text(4))
    log_path = folder / "controller.log"
    process = start(own_config(folder), pins, env, log_path)
    samples: list[float] = []
    ecs = sandbox.client(endpoint, "ecs")
    try:
        eventually(lambda: passes(log_path) >= 1, timeout=60, what="the first pass")
        for edit in range(EDITS):
            target = 3 if edit % 2 == 0 else 4
            seen = proxy.seen("UpdateService")
            written = time.time()
            pins.write_text(pin_text(target))
            eventually(
                lambda s=seen: proxy.seen("UpdateService") > s, timeout=30, what="the update"
            )  # type: ignore[misc]
            arrived = [t for t, c in proxy.arrivals if c.startswith("UpdateService")][-1]
            samples.append(arrived - written)
            eventually(
                lambda t=target: ecs.describe_services(
                    cluster="leh-cluster", services=["leh-backend"]
                )["services"][0]["taskDefinition"].endswith(f":{t}"),  # type: ignore[misc]
                timeout=30,
                what="the rollout",
            )
            eventually(
                lambda n=edit: log_path.read_text().count('"apply_succeeded"') >= n + 1,
                timeout=30,
                what="the apply to finish",
            )  # type: ignore[misc]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        proxy.stop()
    samples.sort()
    return {
        "edits": EDITS,
        "write_to_first_mutating_call_p50_ms": round(statistics.median(samples) * 1000, 1),
        "write_to_first_mutating_call_p99_ms": round(
            samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000, 1
        ),
        "write_to_first_mutating_call_max_ms": round(samples[-1] * 1000, 1),
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fleet_resyncs(endpoint: str) -> dict[str, Any]:
    """CPU and memory of the controller over 10 resyncs of 2,000 targets, all at their pins."""
    reset_moto(endpoint)
    config_text, state_text = fleet.seed(endpoint)
    folder = Path(tempfile.mkdtemp(prefix="pinback-fleet-run-"))
    config = folder / "pinback.yaml"
    config.write_text(
        config_text.replace(
            "aws: {region: ap-northeast-2}",
            "aws: {region: ap-northeast-2}\ndaemon: {resyncInterval: 2s}",
        )
    )
    in_sync = state_text.replace("revision: 1}", "revision: 2}").replace(
        "imageTag: v1}", "imageTag: v3}"
    )
    pins = folder / "pins.yaml"
    pins.write_text(in_sync)
    log_path = folder / "controller.log"
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    process = start(config, pins, env, log_path)
    try:
        eventually(lambda: passes(log_path) >= 1, timeout=120, what="the first pass")
        first, cpu_before = passes(log_path), cpu_seconds(process.pid)
        started = time.monotonic()
        eventually(
            lambda: passes(log_path) >= first + RESYNCS, timeout=300, what=f"{RESYNCS} resyncs"
        )
        cpu = cpu_seconds(process.pid) - cpu_before
        wall = time.monotonic() - started
        peak = peak_mib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    targets = fleet.SERVICES + fleet.FUNCTIONS
    return {
        "targets": targets,
        "resyncs": RESYNCS,
        "controller_cpu_s": round(cpu, 2),
        "cpu_ms_per_target_per_resync": round(cpu * 1000 / (RESYNCS * targets), 4),
        "wall_s": round(wall, 1),
        "controller_peak_rss_mib": round(peak, 1),
    }
