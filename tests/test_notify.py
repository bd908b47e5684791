"""Webhook notifications: the events people chose, Slack-compatible, signed, never in the way."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Aws, Service, config_copy
from tests.stands.daemon_process import Daemon
from tests.stands.waiting import eventually

SECRET = "hook-s3cret"


class Receiver:
    """A local webhook endpoint that keeps every delivery."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.deliveries.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/slack"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.deliveries]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    served = Receiver()
    yield served
    served.server.shutdown()


HOOK = "notify:\n  webhooks:\n    - {urlEnv: HOOK_URL, events: [applied, drift, failed], secretEnv: HOOK_SECRET}\n"


def test_applied_and_drift_reach_the_webhook_signed(
    service: Service, aws: Aws, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pin change sends drift then applied, with target, owner, urgency, versions, and an HMAC."""
    monkeypatch.setenv("HOOK_URL", receiver.url)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"}, append=HOOK)
    daemon = Daemon(
        "--config", str(config), "--state", str(service.current_pins()), "--listen", "127.0.0.1:0"
    )
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        service.pins(backend={"revision": 3, "reason": "INC-231"})
        eventually(
            lambda: any(e["event"] == "applied" for e in receiver.events()),
            timeout=30,
            what="the applied notification",
        )
    finally:
        daemon.stop(signal.SIGTERM)
    kinds = [e["event"] for e in receiver.events()]
    assert kinds.index("drift") < kinds.index("applied")
    applied = next(e for e in receiver.events() if e["event"] == "applied")
    assert (
        applied["target"] == "backend" and applied["owner"] == "H" and applied["urgency"] == "high"
    )
    assert (
        applied["liveBefore"] == "4" and applied["desired"] == "3" and applied["liveAfter"] == "3"
    )
    assert (
        applied["text"].startswith("pinback applied: backend 4 → 3")
        and "INC-231" in applied["text"]
    )
    for headers, body in receiver.deliveries:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Pinback-Signature-256"], expected)
    assert SECRET not in daemon.log()


def test_a_dead_webhook_never_delays_reconciling(
    service: Service, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the webhook refusing connections, the rollback still lands and the retries are logged."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    monkeypatch.setenv("HOOK_URL", dead)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"}, append=HOOK)
    daemon = Daemon(
        "--config", str(config), "--state", str(service.current_pins()), "--listen", "127.0.0.1:0"
    )
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        service.pins(backend=3)
        eventually(
            lambda: daemon.event("apply_succeeded"),
            timeout=10,
            what="the apply, not held up by the webhook",
        )
        eventually(lambda: daemon.event("webhook_retry"), timeout=10, what="a retry logged")
        assert dead not in daemon.log()  # the URL may carry a token: only its host is logged
    finally:
        daemon.stop(signal.SIGTERM)
