"""Freeze windows through the command line against the seeded service: `apply` waits
inside one, and an override with a reason passes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.stands.service import Aws, Service, config_copy, pinback


def test_apply_waits_in_a_freeze_unless_overridden(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """In a freeze `apply` changes nothing; with override and reason it applies and records why."""
    now = dt.datetime.now(dt.UTC)
    window = f'freeze:\n  - {{from: "{(now - dt.timedelta(hours=1)).isoformat()}", to: "{(now + dt.timedelta(hours=1)).isoformat()}"}}\n'
    config = config_copy(tmp_path, append=window)
    done = pinback(
        "apply", "--yes", "--config", str(config), "--state", str(service.pins(backend=3))
    )
    assert done.returncode == 1 and "freeze window until" in done.stdout
    assert aws.proxy.seen("UpdateService") == 0
    pins = service.pins(
        backend={"revision": 3, "override": True, "reason": "INC-231 checkout 500s"}
    )
    done = pinback("apply", "--yes", "--config", str(config), "--state", str(pins))
    assert done.returncode == 0, done.stdout + done.stderr
    records = [
        json.loads(line)
        for line in pinback("audit", "--event", "apply_succeeded", "-o", "json").stdout.splitlines()
    ]
    assert records[-1]["reason"].startswith(
        "INC-231 checkout 500s [override of freeze window until"
    )
