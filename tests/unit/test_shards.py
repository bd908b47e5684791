"""Shard assignment: stable, spread, and never splitting targets an ordering ties together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from daemon.core.shards import assign, members, shard_of
from daemon.spec import Config, load_config
from tests.stands.service import CONFIG


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
        "import json, sys, pathlib; from daemon.core.shards import assign; from daemon.spec import load_config;"
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


def test_the_hash_never_changes_between_versions() -> None:
    """Replicas of two pinback versions (a rolling upgrade) must agree on every shard: the
    hash of a group's name is pinned here."""
    assert [shard_of(f"svc-{i:03d}", 7) for i in range(10)] == [6, 5, 1, 1, 6, 3, 1, 5, 1, 2]


def test_a_service_with_an_empty_after_still_follows_an_unordered_database(
    tmp_path: Path,
) -> None:
    """A database with no `after:` downgrades after every service, so each one joins its
    group, even a service that declares an (empty) order of its own."""
    extra = (
        "  db: {kind: alembic, urlEnv: DATABASE_URL, scriptLocation: m}\n"
        "  api: {kind: ecs, cluster: c, service: api, after: []}\n"
    )
    found = assign(fleet(tmp_path, 40, extra), 64)
    assert len(set(found.values())) == 1


def test_two_ordered_databases_stay_apart(tmp_path: Path) -> None:
    """Each database with its own `after:` joins what it names, not the other database."""
    extra = (
        "  web: {kind: ecs, cluster: c, service: web, after: []}\n"
        "  api: {kind: ecs, cluster: c, service: api, after: []}\n"
        "  db-a: {kind: alembic, urlEnv: DATABASE_URL, scriptLocation: m, after: [web]}\n"
        "  db-b: {kind: alembic, urlEnv: DATABASE_URL, scriptLocation: m, after: [api]}\n"
    )
    found = assign(fleet(tmp_path, 0, extra), 64)
    assert found["db-a"] == found["web"] and found["db-b"] == found["api"]
    assert found["db-a"] != found["db-b"]


def test_databases_are_never_joined_to_each_other(tmp_path: Path) -> None:
    """Only services follow an unordered database: another database does not."""
    extra = (
        "  db-a: {kind: alembic, urlEnv: DATABASE_URL, scriptLocation: m, after: []}\n"
        "  db-b: {kind: alembic, urlEnv: DATABASE_URL, scriptLocation: m}\n"
    )
    found = assign(fleet(tmp_path, 0, extra), 64)
    assert found["db-a"] != found["db-b"]
