"""config/grafana-dashboard.json: every panel's PromQL is valid (promtool checks it as a
recording rule) and names only metrics the controller exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from daemon.controller.metrics import Families
from tests.integration.test_alerts import promtool
from tests.stands.service import REPO

DASHBOARD = REPO / "config" / "grafana-dashboard.json"


def expressions() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p["targets"]]


def exported() -> set[str]:
    """Every sample name the controller's registry can expose (histogram parts included)."""
    names = set()
    for family in Families().registry.collect():
        names.add(family.name)
        names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count", "_total"))
    return names


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    """Grafana's variable is replaced by what "All" sends; promtool parses each query."""
    rules = [
        {"record": f"dashboard:panel_{index}", "expr": expr.replace("$environment", ".*")}
        for index, (_, expr) in enumerate(expressions())
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_metric_a_panel_names_exists() -> None:
    names = exported()
    for title, expr in expressions():
        for metric in re.findall(r"\bpinback_[a-z_]+", expr):
            assert metric in names, f"{title}: {metric} is not exported"
    shown = {m for _, e in expressions() for m in re.findall(r"\bpinback_[a-z_]+", e)}
    assert {
        "pinback_target_drift",
        "pinback_rollback_ready_steps",
        "pinback_leader_shards",
    } <= shown
