"""The Prometheus alerting rules, generated from the config so every alert names its owner.

Prometheus rules cannot look up a target's ``owner`` and ``urgency``, so the rules
carry them as static labels, one rule per target. ``config/alerts.yml`` is this
module's output for ``config/pinback.yaml`` (``make alerts`` writes it; a test keeps
the two in step). Expressions aggregate with ``max``/``sum`` by ``(environment, target)``,
so several replicas page once, not once each, and staging's drift is never prod's page.
With ``environments:`` each environment gets rules of its own (an override may give a
target another owner there).

    python -m daemon.views.alerts config/pinback.yaml > config/alerts.yml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from daemon.spec import Config, LoadedConfig, load_config
from daemon.spec.config import Target

SEVERITY = {"critical": "page", "high": "page", "medium": "ticket", "low": "ticket"}


def rules(config: LoadedConfig) -> dict[str, Any]:
    resync = config.model.daemon.resync_interval
    stale_after = int(max(3 * resync, 60))
    per_target: list[dict[str, Any]] = []
    views: dict[str | None, Config] = dict(config.views.items()) or {None: config.model}
    for env, model in views.items():
        for name, target in model.targets.items():
            per_target += _target_rules(env, name, target, stale_after)
    controller = [
        {
            "alert": "PinbackDesiredStateInvalid",
            "expr": "min by (environment) (pinback_desired_state_valid) == 0",
            "for": "1m",
            "labels": {"severity": "ticket", "urgency": "medium"},
            "annotations": {
                "summary": "the pin file or config does not validate",
                "description": "pinback keeps the last valid pins in force. `pinback validate` lists every error with line and column.",
            },
        },
        {
            "alert": "PinbackDown",
            "expr": 'sum(up{job="pinback"}) == 0 or absent(up{job="pinback"})',
            "for": "1m",
            "labels": {"severity": "page", "urgency": "high"},
            "annotations": {
                "summary": "no pinback controller is up",
                "description": "Nothing keeps live state at the pins and nothing reports drift.",
            },
        },
        {
            "alert": "PinbackNoLeader",
            "expr": (
                "sum by (environment) (pinback_leader_shards) < max by (environment) (pinback_shards)"
                ' and on () sum(up{job="pinback"}) > 0'
            ),
            "for": "1m",
            "labels": {"severity": "page", "urgency": "high"},
            "annotations": {
                "summary": "pinback replicas are up but no replica leads (all or some shards)",
                "description": "The targets of a shard without a leader are observed but not corrected. `pinback status` (leadership) shows each shard's holder; check the replicas' access to the lease database (leader_lost in their logs).",
            },
        },
        _anchor_rule(config),
    ]
    return {
        "groups": [
            {"name": "pinback-targets", "rules": per_target},
            {"name": "pinback-controller", "rules": controller},
        ]
    }


ANCHOR_EVERY = 300.0  # audit.anchor.every's default: the rule is shipped for it when unset


def _anchor_rule(config: LoadedConfig) -> dict[str, Any]:
    """Anchors stopped: three intervals without one (the metric exists on the writer only,
    so no anchor configured, no series, no alert)."""
    anchor = config.model.audit.anchor
    stale_after = int(max(3 * (anchor.every if anchor else ANCHOR_EVERY), 60))
    return {
        "alert": "PinbackAuditAnchorStale",
        "expr": f"min by (bucket) (pinback_audit_anchor_age_seconds) > {stale_after}",
        "for": "1m",
        "labels": {
            "owner": (anchor.owner if anchor else None) or "unassigned",
            "urgency": "medium",
            "severity": "ticket",
        },
        "annotations": {
            "summary": f"no audit anchor written for {stale_after}s (3 intervals)",
            "description": "Records since the last anchor could be cut from the trail unseen. The controller log (anchor_failed) and `pinback status` (auditAnchor) say why: the bucket unreachable, its lock or the role's s3:PutObject gone.",
        },
    }


def _target_rules(
    env: str | None, name: str, target: Target, stale_after: int
) -> list[dict[str, Any]]:
    """The rules of one target of one environment."""
    labels = {
        **({"environment": env} if env else {}),
        "target": name,
        "owner": target.owner or "unassigned",
        "urgency": target.urgency,
        "severity": SEVERITY[target.urgency],
    }
    selector = f'target="{name}"' + (f', environment="{env}"' if env else "")
    shown = f"{name} in {env}" if env else name
    return [
        {
            "alert": "PinbackTargetDrift",
            "expr": f"max by (environment, target, kind) (pinback_target_drift{{{selector}}}) == 1",
            "for": "5m",
            "labels": dict(labels),
            "annotations": {
                "summary": f"{shown} is not at its pinned version",
                "description": "Live differs from the pin for 5 minutes. `pinback status` shows desired vs live and why (blocked, failed, suspended, observe mode).",
            },
        },
        {
            "alert": "PinbackReconcileFailing",
            "expr": (
                f'sum by (environment, target) (increase(pinback_reconcile_total{{{selector}, result="failed"}}[10m])) > 0'
                f' unless sum by (environment, target) (increase(pinback_reconcile_total{{{selector}, result=~"applied|noop"}}[10m])) > 0'
            ),
            "for": "5m",
            "labels": dict(labels),
            "annotations": {
                "summary": f"pinback keeps failing to reconcile {shown}",
                "description": "Every attempt in the last 10 minutes failed. The controller log (event apply_failed) has the error; pinback retries with backoff up to 5 minutes.",
            },
        },
        {
            "alert": "PinbackHealthFailed",
            "expr": f"max by (environment, target) (pinback_target_health_failed{{{selector}}}) == 1",
            "labels": dict(labels),
            "annotations": {
                "summary": f"{shown} failed its health check after a change",
                "description": "pinback held the target (or reverted it, per onFailure) and will not touch it again until its pin changes. `pinback audit --target` shows the health_failed record.",
            },
        },
        {
            "alert": "PinbackTargetStale",
            "expr": (
                f"time() - max by (environment, target) (pinback_last_success_timestamp_seconds{{{selector}}}) > {stale_after}"
                f" and max by (environment, target) (pinback_last_success_timestamp_seconds{{{selector}}}) > 0"
            ),
            "labels": dict(labels),
            "annotations": {
                "summary": f"no pass of {shown} has ended in sync for {stale_after}s (3 resync intervals)",
                "description": "The controller is running but this target has not been confirmed at its pin; check the controller log and `pinback status`.",
            },
        },
        {
            "alert": "PinbackRollbackNotReady",
            "expr": f"max by (environment, target) (pinback_rollback_ready_steps{{{selector}}}) == 0",
            "for": "15m",
            # Known before the incident, and fixed in working hours: a ticket, not a page.
            "labels": {**labels, "severity": "ticket"},
            "annotations": {
                "summary": f"{shown} cannot be rolled back one step",
                "description": "The version before the live one would be refused now (its build, image or revision is gone, or the migration back is destructive). `pinback versions` says why (NOT READY); restore it before an incident needs it.",
            },
        },
    ]


def render(config: LoadedConfig) -> str:
    header = (
        "# Generated from config/pinback.yaml by `make alerts` (python -m daemon.views.alerts).\n"
        "# Edit the generator (daemon/views/alerts.py) or the config, not this file.\n"
    )
    return header + yaml.safe_dump(rules(config), sort_keys=False, width=1000)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "config/pinback.yaml")
    sys.stdout.write(render(load_config(path)))


if __name__ == "__main__":
    main()
