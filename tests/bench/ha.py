"""Replicas on PostgreSQL: failover time, and a fleet reconciled by 3 sharded replicas vs 1.

Failover: ``kill -9`` of the leader to the end of the first pass by the new leader (goal:
at most the lease time + 2 s). Fleet: the 2,000 targets of ``tests.bench.fleet``, a
quarter of them pinned to an older version at once; the time from that pin write to the
last ``apply_succeeded``, with one replica and with three replicas sharing six shards.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from daemon.devtools import sandbox
from tests.bench import fleet
from tests.bench.common import REPO, log, reset_moto
from tests.stands.daemon_process import Daemon
from tests.stands.postgres import postgres_server, throwaway_database
from tests.stands.waiting import eventually

LEASE = 15
ROUNDS = 3
SHARDS = 6


def at(event: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


def replica(config: Path, pins: Path, env: dict[str, str]) -> Daemon:
    return Daemon.on(config, pins, env)


def failover(endpoint: str) -> dict[str, Any]:
    with postgres_server() as admin:
        samples = [failover_once(endpoint, admin, n) for n in range(ROUNDS)]
    return {
        "lease_s": LEASE,
        "rounds": ROUNDS,
        "kill_to_first_pass_by_new_leader_s_median": round(statistics.median(samples), 2),
        "kill_to_first_pass_by_new_leader_s_max": round(max(samples), 2),
        "goal_s": LEASE + 2,
    }


def failover_once(endpoint: str, admin: str, round_: int) -> float:
    reset_moto(endpoint)
    folder = Path(tempfile.mkdtemp(prefix="pinback-failover-"))
    env = sandbox.seed_all(
        endpoint, f"sqlite:///{folder / 'app.db'}", REPO / "config" / "migrations"
    )
    config = folder / "pinback.yaml"
    config.write_text(
        (REPO / "config" / "pinback.yaml")
        .read_text()
        .replace("scriptLocation: migrations", f"scriptLocation: {REPO / 'config/migrations'}")
        + f"leadership: {{urlEnv: PINBACK_LEADER_URL, leaseSeconds: {LEASE}}}\n"
    )
    pins = folder / "pins.yaml"
    pins.write_text((REPO / "state" / "desired-versions.yaml").read_text())
    with throwaway_database(admin) as url:
        env = {
            **env,
            "AWS_ENDPOINT_URL": endpoint,
            "PINBACK_LEADER_URL": url,
            "PINBACK_AUDIT_URL": url,
        }
        first = replica(config, pins, env)
        eventually(lambda: first.event("leader_acquired"), timeout=60, what="a leader")
        second = replica(config, pins, env)
        try:
            eventually(second.ready, timeout=60, what="the standby ready")
            killed = time.time()
            first.stop(signal.SIGKILL)
            took = eventually(
                lambda: second.event("leader_acquired"), timeout=LEASE + 30, what="a new leader"
            )
            finished = eventually(
                lambda: next(
                    (e for e in second.events("pass_finished") if at(e) >= at(took)), None
                ),
                timeout=60,
                what="the new leader's first pass",
            )
        finally:
            first.stop()
            second.stop()
    log(f"failover round {round_ + 1}: {at(finished) - killed:.2f} s")
    return at(finished) - killed


def quarter_back() -> str:
    lines = [
        f"  svc-{i:04d}: {{revision: {1 if i % 4 == 0 else 2}}}" for i in range(fleet.SERVICES)
    ]
    lines += [
        f"  fn-{i:04d}: {{imageTag: {fleet.TAGS[0] if i % 4 == 0 else fleet.TAGS[-1]}}}"
        for i in range(fleet.FUNCTIONS)
    ]
    return "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n" + "\n".join(lines) + "\n"


def sharded_fleet(endpoint: str) -> dict[str, Any]:
    figures: dict[str, Any] = {"targets": fleet.SERVICES + fleet.FUNCTIONS, "shards": SHARDS}
    figures["changes"] = fleet.SERVICES // 4 + fleet.FUNCTIONS // 4
    with postgres_server() as admin:
        for count in (1, 3):
            figures[f"replicas_{count}_s"] = fleet_once(endpoint, admin, count, figures["changes"])
    figures["speedup_3_vs_1"] = round(figures["replicas_1_s"] / figures["replicas_3_s"], 2)
    return figures


def fleet_once(endpoint: str, admin: str, count: int, changes: int) -> float:
    reset_moto(endpoint)
    config_text, state_text = fleet.seed(endpoint)
    folder = Path(tempfile.mkdtemp(prefix="pinback-sharded-"))
    config = folder / "pinback.yaml"
    config.write_text(
        config_text.replace(
            "aws: {region: ap-northeast-2}",
            "aws: {region: ap-northeast-2}\ndaemon: {resyncInterval: 30s}\n"
            f"leadership: {{urlEnv: PINBACK_LEADER_URL, leaseSeconds: 6, shards: {SHARDS}}}",
        )
    )
    pins = folder / "pins.yaml"
    pins.write_text(
        state_text.replace("revision: 1}", "revision: 2}").replace("imageTag: v1}", "imageTag: v3}")
    )
    with throwaway_database(admin) as url:
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "x"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "x"),
            "PINBACK_LEADER_URL": url,
            "PINBACK_AUDIT_URL": url,
        }
        replicas = [replica(config, pins, env) for _ in range(count)]
        fair = -(-SHARDS // count)
        try:
            eventually(
                lambda: (
                    all(r.metric("pinback_leader_shards") == fair for r in replicas)
                    and all(r.event("pass_finished") for r in replicas)
                ),
                timeout=180,
                what="the shards shared out",
            )
            written = time.time()
            pins.write_text(quarter_back())

            def succeeded() -> list[dict[str, Any]]:
                return [
                    e for r in replicas for e in r.events("apply_succeeded") if at(e) >= written
                ]

            eventually(
                lambda: len(succeeded()) >= changes, timeout=900, what="the fleet reconciled"
            )
            wall = max(at(e) for e in succeeded()) - written
        finally:
            for r in replicas:
                r.stop()
    log(f"{count} replica(s): {changes} changes in {wall:.1f} s")
    return round(wall, 1)
