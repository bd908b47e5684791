"""Shard assignment: stable, spread, and never splitting targets an ordering ties together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from daemon.shards import assign, members
from daemon.spec import Config, load_config
from tests.conftest import CONFIG


def fleet(tmp_path: Path, services: int, extra: str = "") -> Config:
    lines = ["apiVersion: pinback/v1", "kind: Config", "aws: {region: ap-northeast-2}", "targets:"]
    for index in range(services):
        lines.append(f"  svc-{index:03d}: {{kind: ecs, cluster: c, service: svc-{index:03d}}}")
    path = tmp_path / "pinback.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return load_config(path).model


def test_one_shard_holds_everything(tmp_path: Path) -> None:
    assert set(assign(fleet(tmp_path, 20), 1).values()) == {0}


def test_a_fleet_spreads_over_every_shard_and_the_same_way_each_time(tmp_path: Path) -> None:
    config = fleet(tmp_path, 300)
    first = assign(config, 6)
    sizes = [len(members(first, s)) for s in range(6)]
    assert all(20 <= n <= 80 for n in sizes), sizes
    assert assign(config, 6) == first
    # Every replica, whatever its PYTHONHASHSEED, computes the same assignment.
    code = (
        "import json, sys, pathlib; from daemon.shards import assign; from daemon.spec import load_config;"
        "print(json.dumps(assign(load_config(pathlib.Path(sys.argv[1])).model, 6)))"
    )
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "pinback.yaml")],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert json.loads(done.stdout) == first


def test_after_keeps_ordered_targets_together(tmp_path: Path) -> None:
    extra = "  api: {kind: ecs, cluster: c, service: api, after: [svc-007]}\n"
    found = assign(fleet(tmp_path, 50, extra), 8)
    assert found["api"] == found["svc-007"]


def test_a_database_keeps_the_services_it_is_ordered_with(tmp_path: Path) -> None:
    found = assign(load_config(CONFIG).model, 16)
    assert len(set(found.values())) == 1  # the service of ROLLBACK.md: one group


def test_a_database_with_its_own_order_leaves_services_that_have_theirs(tmp_path: Path) -> None:
    extra = (
        "  db: {kind: alembic, urlEnv: DATABASE_URL, scriptLocation: m, after: [svc-001]}\n"
        "  api: {kind: ecs, cluster: c, service: api, after: [svc-002]}\n"
    )
    found = assign(fleet(tmp_path, 40, extra), 8)
    assert found["db"] == found["svc-001"]
    assert found["api"] == found["svc-002"]
    assert found["db"] == found["svc-030"]  # svc-030 has no after: ordered around the database
