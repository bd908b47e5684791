"""The controller follows the same ordering rule as the one-shot applier
(daemon.core.ordering): a target ordered after a blocked one is blocked in turn, not applied."""

from __future__ import annotations

import json
from pathlib import Path

from tests.stands.daemon_process import Daemon
from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, config_copy
from tests.stands.waiting import eventually


def test_a_target_after_a_blocked_one_is_not_applied(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The AI worker is ordered after the backend (``after: [backend]``), whose pin is
    suspended: the running controller must not move the worker onto a backend that never
    moved. /status says why, and no UpdateFunctionCode is sent."""
    config = config_copy(
        tmp_path,
        {
            "    repository: leh-ai-worker\n": "    repository: leh-ai-worker\n    after: [backend]\n",
            "resyncInterval: 30s": "resyncInterval: 1s",
        },
    )
    daemon = Daemon.on(config, service.current_pins())
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        service.pins(
            frontend=COMMITS[-1][:7],
            backend={"revision": 3, "suspend": True},
            ai_worker=TAGS[-2],
            database=REVISIONS[-1],
        )
        eventually(
            lambda: daemon.event("blocked", lambda e: e.get("target") == "ai-worker"),
            timeout=30,
            what="the worker blocked",
        )
        daemon.more_passes(3)
        rows = {r["target"]: r for r in json.loads(daemon.get("/status")[1])["targets"]}
    finally:
        daemon.stop()
    assert aws.proxy.seen("/code") == 0  # UpdateFunctionCode: PUT .../functions/F/code
    worker = rows["ai-worker"]
    assert worker["phase"] == "Blocked", worker
    assert worker["blockedReason"].startswith("waits on backend, which is blocked: suspended")
