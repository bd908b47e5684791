"""Time to restore, against AWS as it behaves in time (``tests.stands.realistic``).

Three figures, each the median of ``PINBACK_BENCH_RESTORE_RUNS`` (3) runs, with AWS's times
scaled down to seconds (the ratios are what count):

- ``whole_stack``: all four targets one step back, from in sync. AWS's own floor is the
  critical path of the rollouts: the frontend (copy, then its invalidation), the backend
  (new tasks start, old ones drain) and the worker (its image update) in parallel, then the
  database downgrade (services first on the way back), timed alone. Goal: at most 1.10x.
- ``in_flight_rolling``: revision 3 is rolling out over 4 when the pin goes back to 4. Through
  ECS's own rollback (``StopServiceDeployment``) against a new deployment of 4
  (``UpdateService``, timed the same way), from the moment of the pin.
- ``blue_green_in_bake``: a blue/green deployment of 3 bakes; the pin goes back to 4. ECS
  shifts traffic back to blue (``Timing.shift``, 1.5 s here). Goal: under 3 s.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from daemon.devtools import sandbox
from daemon.engine.engine import Engine
from daemon.spec import load_config, load_desired
from tests.bench.common import REPO, log, own_config, reset_moto
from tests.stands.fault_proxy import FaultProxy
from tests.stands.realistic.cloudfront import CloudFrontWorld
from tests.stands.realistic.ecs import EcsWorld, Timing
from tests.stands.realistic.lambda_functions import LambdaWorld
from tests.stands.waiting import eventually

CLUSTER, SERVICE = "leh-cluster", "leh-backend"
ROLLING = Timing(start=3.0, drain=2.0)
INVALIDATION = 2.5
LAMBDA_UPDATE = 1.5
REVISIONS = ("1f3a9c2b7d10", "5c81e0d4a2b7", "8a2d4f6b1c93", "b47e1c2d9a10", "d92f3a6c8e45")


def runs() -> int:
    return int(os.environ.get("PINBACK_BENCH_RESTORE_RUNS", "3"))


@contextmanager
def realistic(endpoint: str) -> Iterator[tuple[Path, FaultProxy]]:
    """A freshly seeded service behind a proxy that answers with time; the environment
    points pinback at it for the ``with`` block."""
    reset_moto(endpoint)
    folder = Path(tempfile.mkdtemp(prefix="pinback-restore-"))
    database = f"sqlite:///{folder / 'app.db'}"
    env = sandbox.seed_all(endpoint, database, REPO / "config" / "migrations")
    proxy = FaultProxy(endpoint).start()
    saved = dict(os.environ)
    os.environ.update({**env, "DATABASE_URL": database, "AWS_ENDPOINT_URL": proxy.url})
    try:
        yield folder, proxy
    finally:
        os.environ.clear()
        os.environ.update(saved)
        proxy.stop()


def _pins(folder: Path, **pins: str) -> Path:
    fields = {
        "frontend": "commit",
        "backend": "revision",
        "ai-worker": "imageTag",
        "database": "revision",
    }
    lines = ["apiVersion: pinback/v1", "kind: DesiredVersions", "spec:"]
    lines += [
        f"  {t}: {{{fields[t]}: {v if t == 'backend' else repr(v)}}}" for t, v in pins.items()
    ]
    path = folder / "pins.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _apply(folder: Path, only: str | None = None, **pins: str) -> float:
    config = load_config(own_config(folder, {}))
    engine = Engine(config)
    desired = load_desired(_pins(folder, **pins), config)
    plan = engine.snapshot(desired, only).plan
    started = time.perf_counter()
    results = engine.apply(plan)
    seconds = time.perf_counter() - started
    failed = [r for r in results if r.outcome.value != "applied"]
    if failed:
        raise RuntimeError(f"restore failed: {[(r.target, r.error) for r in failed]}")
    return seconds


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def whole_stack(endpoint: str) -> dict[str, Any]:
    back = {
        "frontend": sandbox.FRONTEND_COMMITS[-2][:12],
        "backend": "3",
        "ai-worker": sandbox.WORKER_TAGS[-2],
        "database": REVISIONS[-2],
    }
    totals, floors, databases = [], [], []
    for _ in range(runs()):
        with realistic(endpoint) as (folder, proxy):
            proxy.add_world(EcsWorld()).animate(CLUSTER, SERVICE, 4, timing=ROLLING)  # type: ignore[attr-defined]
            proxy.add_world(CloudFrontWorld(INVALIDATION))
            proxy.add_world(LambdaWorld(LAMBDA_UPDATE)).animate("leh-ai-worker")  # type: ignore[attr-defined]
            totals.append(_apply(folder, **back))
        with realistic(endpoint) as (folder, _):
            databases.append(_apply(folder, "database", database=REVISIONS[-2]))
        floors.append(
            max(ROLLING.start + ROLLING.drain, INVALIDATION, LAMBDA_UPDATE) + databases[-1]
        )
    total, floor = _median(totals), _median(floors)
    return {
        "seconds": total,
        "aws_floor_seconds": floor,
        "ratio": round(total / floor, 3),
        "goal_ratio": 1.10,
        "database_alone_seconds": _median(databases),
        "runs": len(totals),
    }


def _in_flight(
    endpoint: str, timing: Timing, strategy: str, pin_back: Callable[[Path], float], **world: Any
) -> float:
    with realistic(endpoint) as (folder, proxy):
        ecs = proxy.add_world(EcsWorld())
        assert isinstance(ecs, EcsWorld)
        ecs.animate(CLUSTER, SERVICE, 4, timing=timing, strategy=strategy, **world)
        sandbox.client(proxy.url, "ecs").update_service(
            cluster=CLUSTER, service=SERVICE, taskDefinition=f"{SERVICE}:3"
        )
        stage = "BAKE_TIME" if strategy != "ROLLING" else "SCALE_UP"
        eventually(
            lambda: ecs.deployments(CLUSTER, SERVICE)[-1].stage == stage, timeout=60, what=stage
        )
        if strategy == "ROLLING":
            time.sleep(timing.start / 2)  # half of 3's tasks up: the pin goes back mid-rollout
        return pin_back(folder)


def _new_deployment(folder: Path) -> float:
    """What a new deployment of 4 takes: UpdateService, then until ECS says SUCCESSFUL."""
    ecs = sandbox.client(os.environ["AWS_ENDPOINT_URL"], "ecs")
    started = time.perf_counter()
    ecs.update_service(
        cluster=CLUSTER, service=SERVICE, taskDefinition=f"{SERVICE}:4", forceNewDeployment=True
    )
    eventually(
        lambda: (
            ecs.list_service_deployments(cluster=CLUSTER, service=SERVICE, maxResults=1)[
                "serviceDeployments"
            ][0]["status"]
            == "SUCCESSFUL"
        ),
        timeout=120,
        what="the new deployment",
        interval=0.1,
    )
    return time.perf_counter() - started


def in_flight_rolling(endpoint: str) -> dict[str, Any]:
    timing = Timing(start=6.0, drain=2.0)
    by_rollback = [
        _in_flight(endpoint, timing, "ROLLING", lambda f: _apply(f, backend="4"))
        for _ in range(runs())
    ]
    by_new = [_in_flight(endpoint, timing, "ROLLING", _new_deployment) for _ in range(runs())]
    return {
        "ecs_rollback_seconds": _median(by_rollback),
        "new_deployment_seconds": _median(by_new),
        "drain_seconds": timing.drain,
        "start_seconds": timing.start,
        "runs": len(by_rollback),
    }


def blue_green_in_bake(endpoint: str) -> dict[str, Any]:
    timing = Timing(start=1.0, drain=2.0, shift=1.5, minute=60.0)
    seconds = [
        _in_flight(endpoint, timing, "BLUE_GREEN", lambda f: _apply(f, backend="4"), bake_minutes=1)
        for _ in range(runs())
    ]
    log(f"blue/green flips: {seconds}")
    return {
        "seconds": _median(seconds),
        "traffic_shift_seconds": timing.shift,
        "goal_seconds": 3.0,
        "runs": len(seconds),
    }
