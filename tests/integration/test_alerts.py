"""The shipped alerts: generated from the config, and proven with ``promtool test rules``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.spec import load_config
from daemon.views.alerts import render, rules
from tests.stands.service import CONFIG, IN_CI, REPO

ALERTS = REPO / "config" / "alerts.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if IN_CI:
            pytest.fail(
                "promtool is required under CI=true (.ci/run installs the prometheus package)"
            )
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def annotations(alert: str, target: str | None = None) -> dict[str, str]:
    for group in rules(load_config(CONFIG))["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == alert and (
                target is None or rule["labels"].get("target") == target
            ):
                return dict(rule["annotations"])
    raise KeyError(alert)


def expect(alert: str, labels: dict[str, str], target: str | None = None) -> dict[str, Any]:
    return {"exp_labels": labels, "exp_annotations": annotations(alert, target)}


BACKEND = {
    "environment": "prod",
    "target": "backend",
    "owner": "H",
    "urgency": "high",
    "severity": "page",
}
WORKER = {
    "environment": "prod",
    "target": "ai-worker",
    "owner": "L",
    "urgency": "medium",
    "severity": "ticket",
}


def unit_tests() -> list[dict[str, Any]]:
    return [
        {  # two replicas see the same drift: one alert, with the target's owner and urgency
            "interval": "1m",
            "input_series": [
                {
                    "series": 'pinback_target_drift{environment="prod",target="backend",kind="ecs",instance="a",job="pinback"}',
                    "values": "1x10",
                },
                {
                    "series": 'pinback_target_drift{environment="prod",target="backend",kind="ecs",instance="b",job="pinback"}',
                    "values": "1x10",
                },
                {
                    "series": 'pinback_target_drift{environment="prod",target="ai-worker",kind="lambda",instance="a",job="pinback"}',
                    "values": "0x10",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "PinbackTargetDrift", "exp_alerts": []},
                {
                    "eval_time": "6m",
                    "alertname": "PinbackTargetDrift",
                    "exp_alerts": [
                        expect("PinbackTargetDrift", {**BACKEND, "kind": "ecs"}, "backend")
                    ],
                },
            ],
        },
        {  # one controller runs staging and prod: a drift in each is a page each, named
            "interval": "1m",
            "input_series": [
                {
                    "series": 'pinback_target_drift{environment="staging",target="backend",kind="ecs",instance="a",job="pinback"}',
                    "values": "1x10",
                },
                {
                    "series": 'pinback_target_drift{environment="prod",target="backend",kind="ecs",instance="a",job="pinback"}',
                    "values": "1x10",
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": "6m",
                    "alertname": "PinbackTargetDrift",
                    "exp_alerts": [
                        expect("PinbackTargetDrift", {**BACKEND, **env, "kind": "ecs"}, "backend")
                        for env in ({"environment": "prod"}, {"environment": "staging"})
                    ],
                },
            ],
        },
        {  # every attempt failing pages; a success in the window silences it
            "interval": "1m",
            "input_series": [
                {
                    "series": 'pinback_reconcile_total{environment="prod",target="ai-worker",kind="lambda",result="failed",instance="a",job="pinback"}',
                    "values": "0+1x20",
                },
                {
                    "series": 'pinback_reconcile_total{environment="prod",target="ai-worker",kind="lambda",result="applied",instance="a",job="pinback"}',
                    "values": "0x20",
                },
                {
                    "series": 'pinback_reconcile_total{environment="prod",target="backend",kind="ecs",result="failed",instance="a",job="pinback"}',
                    "values": "0+1x20",
                },
                {
                    "series": 'pinback_reconcile_total{environment="prod",target="backend",kind="ecs",result="noop",instance="a",job="pinback"}',
                    "values": "0+1x20",
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": "10m",
                    "alertname": "PinbackReconcileFailing",
                    "exp_alerts": [expect("PinbackReconcileFailing", WORKER, "ai-worker")],
                },
            ],
        },
        {  # a failed health check pages the owner at once
            "interval": "1m",
            "input_series": [
                {
                    "series": 'pinback_target_health_failed{environment="prod",target="backend",instance="a",job="pinback"}',
                    "values": "0 1 1",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "0m", "alertname": "PinbackHealthFailed", "exp_alerts": []},
                {
                    "eval_time": "1m",
                    "alertname": "PinbackHealthFailed",
                    "exp_alerts": [expect("PinbackHealthFailed", BACKEND, "backend")],
                },
            ],
        },
        {  # no pass in sync for 3 resync intervals; a target never seen yet (0) does not fire
            "interval": "1m",
            "input_series": [
                {
                    "series": 'pinback_last_success_timestamp_seconds{environment="prod",target="backend",instance="a",job="pinback"}',
                    "values": "60x10",
                },
                {
                    "series": 'pinback_last_success_timestamp_seconds{environment="prod",target="ai-worker",instance="a",job="pinback"}',
                    "values": "0x10",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": "PinbackTargetStale", "exp_alerts": []},
                {
                    "eval_time": "3m",
                    "alertname": "PinbackTargetStale",
                    "exp_alerts": [expect("PinbackTargetStale", BACKEND, "backend")],
                },
            ],
        },
        {  # the step back is gone (an expired image, say): a ticket to the owner, not a page
            "interval": "1m",
            "input_series": [
                {
                    "series": 'pinback_rollback_ready_steps{environment="prod",target="backend",instance="a",job="pinback"}',
                    "values": "3 0x20",
                },
                {
                    "series": 'pinback_rollback_ready_steps{environment="prod",target="ai-worker",instance="a",job="pinback"}',
                    "values": "1x20",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "PinbackRollbackNotReady", "exp_alerts": []},
                {
                    "eval_time": "17m",
                    "alertname": "PinbackRollbackNotReady",
                    "exp_alerts": [
                        expect(
                            "PinbackRollbackNotReady", {**BACKEND, "severity": "ticket"}, "backend"
                        )
                    ],
                },
            ],
        },
        {  # controller-wide: invalid pins, nobody up, nobody leading
            "interval": "1m",
            "input_series": [
                {
                    "series": 'pinback_desired_state_valid{environment="prod",instance="a",job="pinback"}',
                    "values": "1 0 0 0 0",
                },
                {"series": 'up{instance="a",job="pinback"}', "values": "1 1 1 0 0 0 0"},
                {
                    "series": 'pinback_leader_shards{environment="prod",instance="a",job="pinback"}',
                    "values": "0 0 0",
                },
                {
                    "series": 'pinback_shards{environment="prod",instance="a",job="pinback"}',
                    "values": "1 1 1",
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": "3m",
                    "alertname": "PinbackDesiredStateInvalid",
                    "exp_alerts": [
                        expect(
                            "PinbackDesiredStateInvalid",
                            {"environment": "prod", "severity": "ticket", "urgency": "medium"},
                        )
                    ],
                },
                {
                    "eval_time": "2m",
                    "alertname": "PinbackNoLeader",
                    "exp_alerts": [
                        expect(
                            "PinbackNoLeader",
                            {"environment": "prod", "severity": "page", "urgency": "high"},
                        )
                    ],
                },
                {
                    "eval_time": "5m",
                    "alertname": "PinbackDown",
                    "exp_alerts": [expect("PinbackDown", {"severity": "page", "urgency": "high"})],
                },
            ],
        },
        {  # sharded replicas: quiet while every shard has a leader, a page once one has none
            "interval": "1m",
            "input_series": [
                {"series": 'up{instance="a",job="pinback"}', "values": "1x7"},
                {"series": 'up{instance="b",job="pinback"}', "values": "1x7"},
                {
                    "series": 'pinback_shards{environment="prod",instance="a",job="pinback"}',
                    "values": "3x7",
                },
                {
                    "series": 'pinback_shards{environment="prod",instance="b",job="pinback"}',
                    "values": "3x7",
                },
                {
                    "series": 'pinback_leader_shards{environment="prod",instance="a",job="pinback"}',
                    "values": "2 2 2 1 1 1 1 1",
                },
                {
                    "series": 'pinback_leader_shards{environment="prod",instance="b",job="pinback"}',
                    "values": "1x7",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "2m", "alertname": "PinbackNoLeader", "exp_alerts": []},
                {
                    "eval_time": "6m",
                    "alertname": "PinbackNoLeader",
                    "exp_alerts": [
                        expect(
                            "PinbackNoLeader",
                            {"environment": "prod", "severity": "page", "urgency": "high"},
                        )
                    ],
                },
            ],
        },
        {  # audit anchors: written every 5m, then none for 20 minutes (the bucket gone)
            "interval": "1m",
            "input_series": [
                {
                    "series": 'pinback_audit_anchor_age_seconds{bucket="leh-audit-anchors",instance="a",job="pinback"}',
                    "values": "0+60x4 0+60x20",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "PinbackAuditAnchorStale", "exp_alerts": []},
                {
                    "eval_time": "22m",
                    "alertname": "PinbackAuditAnchorStale",
                    "exp_alerts": [
                        expect(
                            "PinbackAuditAnchorStale",
                            {
                                "bucket": "leh-audit-anchors",
                                "owner": "unassigned",
                                "severity": "ticket",
                                "urgency": "medium",
                            },
                        )
                    ],
                },
            ],
        },
    ]


def test_shipped_alerts_match_the_config() -> None:
    """config/alerts.yml is what the generator makes of config/pinback.yaml (run `make alerts`)."""
    assert ALERTS.read_text() == render(load_config(CONFIG))


def test_every_target_has_its_owner_on_every_alert() -> None:
    config = load_config(CONFIG)
    document = yaml.safe_load(ALERTS.read_text())
    per_target = [r for g in document["groups"] for r in g["rules"] if "target" in r["labels"]]
    for name, target in config.model.targets.items():
        mine = [r for r in per_target if r["labels"]["target"] == name]
        assert {r["alert"] for r in mine} == {
            "PinbackTargetDrift",
            "PinbackReconcileFailing",
            "PinbackHealthFailed",
            "PinbackTargetStale",
            "PinbackRollbackNotReady",
        }
        assert all(
            r["labels"]["owner"] == target.owner and r["labels"]["urgency"] == target.urgency
            for r in mine
        )


def test_promtool_checks_the_rules() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    """The alerts fire when they should, with owner and urgency, and stay quiet otherwise."""
    spec = {"rule_files": [str(ALERTS)], "evaluation_interval": "1m", "tests": unit_tests()}
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    done = subprocess.run(
        [promtool(), "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
