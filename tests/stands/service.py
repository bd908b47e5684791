"""The seeded service and the helpers every kind of test uses: paths of the repo, the
ROLLBACK.md service in the AWS emulator (``Service``), the real command line
(``pinback``), config copies, a health alarm, and a ``Progress`` that keeps its lines.

Fixtures that build these live in ``tests/conftest.py``; this module holds no fixture, so
a test imports what it uses from here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from daemon.adapters.audit import AuditLog
from daemon.devtools import sandbox
from daemon.engine.engine import Engine
from daemon.spec import DesiredState, load_config, load_desired
from tests.stands.fault_proxy import FaultProxy

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "pinback.yaml"
MIGRATIONS = REPO / "config" / "migrations"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The versions the sandbox seeds, oldest first (see daemon/devtools/sandbox.py).
COMMITS = sandbox.FRONTEND_COMMITS
TAGS = sandbox.WORKER_TAGS
REVISIONS = ("1f3a9c2b7d10", "5c81e0d4a2b7", "8a2d4f6b1c93", "b47e1c2d9a10", "d92f3a6c8e45")


@dataclass
class Aws:
    endpoint: str  # what pinback talks to: the fault proxy
    moto: str  # moto itself, for seeding and checking without faults
    proxy: FaultProxy

    def client(self, service: str) -> object:
        return sandbox.client(self.moto, service)


@dataclass
class Service:
    """The ROLLBACK.md service seeded into moto, and helpers to pin it."""

    aws: Aws
    database_url: str
    folder: Path
    config: Path = CONFIG

    def pins(self, **versions: object) -> Path:
        """Write a pin file; keyword per target (``ai_worker`` for ai-worker), value or dict."""
        lines = [
            "apiVersion: pinback/v1",
            "kind: DesiredVersions",
            "metadata: {environment: test}",
            "spec:",
        ]
        fields = {
            "frontend": "commit",
            "backend": "revision",
            "ai-worker": "imageTag",
            "database": "revision",
        }
        for key, value in versions.items():
            name = key.replace("_", "-")
            entry = value if isinstance(value, dict) else {fields[name]: value}
            lines.append(f"  {name}:")
            for field, item in entry.items():
                shown = (
                    str(item).lower()
                    if isinstance(item, bool)
                    else (f'"{item}"' if isinstance(item, str) else item)
                )
                lines.append(f"    {field}: {shown}")
        path = self.folder / "desired-versions.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def engine(
        self, config: Path | None = None, audit: AuditLog | None = None, **versions: object
    ) -> tuple[Engine, DesiredState]:
        """An engine over ``config`` (the repo's by default), recording to ``audit`` when
        given, and the given pins, loaded."""
        loaded = load_config(config or self.config)
        return Engine(loaded, audit=audit), load_desired(self.pins(**versions), loaded)

    def current_pins(self) -> Path:
        """Pins equal to what the seed left live."""
        return self.pins(
            frontend=COMMITS[-1][:7], backend=4, ai_worker=TAGS[-1], database=REVISIONS[-1]
        )


def seed_service(
    aws: Aws, database_url: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> Service:
    env = sandbox.seed_all(aws.moto, database_url, MIGRATIONS)
    monkeypatch.setenv("CLOUDFRONT_DISTRIBUTION_ID", env["CLOUDFRONT_DISTRIBUTION_ID"])
    monkeypatch.setenv("DATABASE_URL", database_url)
    return Service(aws, database_url, folder)


def pinback(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process, as a person would."""
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=input,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def audit_json(*args: str) -> list[dict[str, object]]:
    """``pinback audit ARGS -o json``, one record a line, parsed."""
    done = pinback("audit", *args, "-o", "json")
    return [json.loads(line) for line in done.stdout.splitlines()]


OUTCOMES = ("apply_succeeded", "apply_failed", "health_failed")


def unclosed_or_twice(records: list[dict[str, object]]) -> dict[str, list[str]]:
    """Every ``apply_started`` whose outcome records are not exactly one, by correlation id,
    with what was recorded for it: empty when each start has its one outcome."""
    by_start: dict[str, list[str]] = {
        str(r["correlation_id"]): [] for r in records if r["event"] == "apply_started"
    }
    for record in records:
        if record["event"] in OUTCOMES and str(record["correlation_id"]) in by_start:
            by_start[str(record["correlation_id"])].append(str(record["event"]))
    return {cid: events for cid, events in by_start.items() if len(events) != 1}


def config_copy(folder: Path, replace: dict[str, str] | None = None, append: str = "") -> Path:
    """The repo's config with some text replaced, written to ``folder`` (scripts stay in the repo)."""
    text = CONFIG.read_text().replace("scriptLocation: migrations", f"scriptLocation: {MIGRATIONS}")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "pinback.yaml"
    path.write_text(text + append)
    return path


def health_alarm(aws: Aws, name: str = "leh-backend-5xx") -> None:
    """A CloudWatch alarm for health gates (moto starts it OK)."""
    aws.client("cloudwatch").put_metric_alarm(  # type: ignore[attr-defined]
        AlarmName=name,
        MetricName="5xx",
        Namespace="leh",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )


class Recorder:
    """A ``Progress`` that keeps every line, for tests that check what a person would see."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, target: str, message: str) -> None:
        self.lines.append((target, message))

    def of(self, target: str) -> list[str]:
        return [m for t, m in self.lines if t == target]
