"""The controller and a deployment ECS rolled back itself (the circuit breaker): the pin
is held, not fought."""

from __future__ import annotations

import json
from pathlib import Path

from tests.stands.aws_behaviours import CIRCUIT_BREAKER_REASON, circuit_breaker_rollback
from tests.stands.daemon_process import Daemon
from tests.stands.service import (
    COMMITS,
    REVISIONS,
    TAGS,
    Aws,
    Service,
    audit_json,
    config_copy,
)
from tests.stands.waiting import eventually


def test_the_controller_holds_a_pin_ecs_rolled_back(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """A running controller records the circuit breaker's rollback once and never deploys the
    revision again while the pin stays; a new pin is applied."""
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    daemon = Daemon.on(config, service.current_pins())
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        circuit_breaker_rollback(aws.proxy, "leh-backend", failed=3, back_to=4)
        service.pins(
            frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-1], database=REVISIONS[-1]
        )
        eventually(lambda: daemon.event("held"), timeout=30, what="the hold")
        daemon.more_passes(4)
        assert aws.proxy.seen("UpdateService") == 1
        rows = json.loads(daemon.get("/status")[1])["targets"]
        backend = next(r for r in rows if r["target"] == "backend")
        assert backend["phase"] == "Held" and CIRCUIT_BREAKER_REASON in backend["heldReason"]
        aws.proxy.drop_rules()
        service.pins(
            frontend=COMMITS[-1][:7], backend=2, ai_worker=TAGS[-1], database=REVISIONS[-1]
        )
        eventually(
            lambda: daemon.event("apply_succeeded", lambda e: e.get("desired") == "2"),
            timeout=30,
            what="the new pin applied",
        )
    finally:
        daemon.stop()
    failures = audit_json("--target", "backend", "--event", "apply_failed")
    assert len(failures) == 1 and CIRCUIT_BREAKER_REASON in str(failures[0]["error"])
