"""Health gates in the controller: one revert per pin, and a hold that survives a restart."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from daemon.adapters.audit import AuditLog
from tests.integration.test_health import BACKEND, with_health
from tests.stands.daemon_process import Daemon
from tests.stands.service import (
    COMMITS,
    Aws,
    Service,
    pinback,
)
from tests.stands.waiting import eventually


def reverting_3_to_4(tmp_path: Path) -> Path:
    """A 1 s-resync config whose backend gate fails revision 3 and reverts, with revision 4
    known to have passed its gates before (a revert goes only to such a version)."""
    config = with_health(
        tmp_path,
        BACKEND,
        "{command: 'test \"$PINBACK_VERSION\" != 3', timeout: 5s, onFailure: revert}",
    )
    config.write_text(config.read_text().replace("resyncInterval: 30s", "resyncInterval: 1s"))
    AuditLog(os.environ["PINBACK_AUDIT_URL"]).record(
        "apply_succeeded", target="backend", kind="ecs", desired="4"
    )
    return config


def test_controller_reverts_once_per_pin(service: Service, aws: Aws, tmp_path: Path) -> None:
    """The controller reverts a failing pin once and then leaves it alone until the pin changes."""
    config = reverting_3_to_4(tmp_path)
    daemon = Daemon(
        "--config", str(config), "--state", str(service.current_pins()), "--listen", "127.0.0.1:0"
    )
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        service.pins(
            frontend=COMMITS[-1][:7], backend=3, ai_worker="v1.9.0", database="d92f3a6c8e45"
        )
        eventually(lambda: daemon.event("health_failed"), timeout=30, what="the health failure")
        eventually(
            lambda: daemon.metric("pinback_target_health_failed", target="backend") == 1,
            timeout=10,
            what="the metric",
        )
        passes = len(daemon.events("pass_finished"))
        eventually(
            lambda: len(daemon.events("pass_finished")) >= passes + 3,
            timeout=20,
            what="three more passes",
        )
        assert aws.proxy.seen("UpdateService") == 2  # the change and one revert, no loop
        status = json.loads(daemon.get("/status")[1])
        backend = next(r for r in status["targets"] if r["target"] == "backend")
        assert backend["state"].startswith("health failed, held until the pin changes")
        service.pins(
            frontend=COMMITS[-1][:7], backend=2, ai_worker="v1.9.0", database="d92f3a6c8e45"
        )
        eventually(
            lambda: daemon.metric("pinback_target_health_failed", target="backend") == 0,
            timeout=20,
            what="a new pin clears it",
        )
        eventually(
            lambda: len(daemon.events("apply_succeeded")) >= 1,
            timeout=20,
            what="the new pin applied",
        )
    finally:
        daemon.stop(signal.SIGTERM)
    events = [
        json.loads(line)["event"]
        for line in pinback("audit", "--target", "backend", "-o", "json").stdout.splitlines()
    ]
    assert events.count("health_failed") == 1


def test_a_hold_survives_a_restart(service: Service, aws: Aws, tmp_path: Path) -> None:
    """The pin failed its gate and was reverted; the controller restarts with the same pin: it
    stays held (from the trail), so the failing version is not deployed and reverted again."""
    config = reverting_3_to_4(tmp_path)
    pins = service.pins(
        frontend=COMMITS[-1][:7], backend=3, ai_worker="v1.9.0", database="d92f3a6c8e45"
    )
    first = Daemon.on(config, pins)
    try:
        eventually(lambda: first.event("health_failed"), timeout=60, what="the health failure")
        eventually(lambda: aws.proxy.seen("UpdateService") == 2, timeout=30, what="the revert")
    finally:
        first.stop()
    second = Daemon.on(config, pins)
    try:
        eventually(second.ready, timeout=30, what="ready again")
        second.more_passes(3)
        assert aws.proxy.seen("UpdateService") == 2
        rows = json.loads(second.get("/status")[1])["targets"]
        backend = next(r for r in rows if r["target"] == "backend")
        assert backend["phase"] == "Held" and "smoke command exited 1" in backend["heldReason"]
        assert second.metric("pinback_target_health_failed", target="backend") == 1
    finally:
        second.stop()
