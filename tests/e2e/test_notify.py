"""Webhook notifications: the events people chose, Slack-compatible, signed, never in the way."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.stands.daemon_process import Daemon
from tests.stands.service import Aws, Service, config_copy
from tests.stands.waiting import eventually

SECRET = "hook-s3cret"


class Receiver:
    """A local webhook endpoint that keeps every delivery. It answers ``status``; with
    ``hold`` cleared it keeps each request open, unanswered, until the hold is set (a
    webhook that hangs), counting them in ``hanging``."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.hold = threading.Event()
        self.hold.set()
        self.hanging = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.deliveries.append((dict(self.headers.items()), body))
                if not receiver.hold.is_set():
                    receiver.hanging += 1
                    receiver.hold.wait(60)
                    receiver.hanging -= 1
                self.send_response(receiver.status)
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


def start_with_hook(service: Service, tmp_path: Path, hook: str = HOOK) -> Daemon:
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"}, append=hook)
    daemon = Daemon(
        "--config", str(config), "--state", str(service.current_pins()), "--listen", "127.0.0.1:0"
    )
    eventually(daemon.ready, timeout=30, what="ready")
    return daemon


def test_a_hanging_webhook_never_delays_reconciling(
    service: Service, aws: Aws, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook accepts the connection and never answers: the rollback lands while the
    delivery is still hanging (an order of events, not a speed)."""
    monkeypatch.setenv("HOOK_URL", receiver.url)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    receiver.hold.clear()
    daemon = start_with_hook(service, tmp_path)
    try:
        service.pins(backend=3)
        eventually(lambda: receiver.hanging, timeout=30, what="a delivery hanging")
        eventually(
            lambda: daemon.event("apply_succeeded", lambda e: e.get("target") == "backend"),
            timeout=60,
            what="the apply",
        )
        assert receiver.hanging and not receiver.hold.is_set()  # still not answered
        # A delivery gives up after five tries (about 40 s); an apply waiting on it would
        # come after that.
        assert not daemon.events("webhook_failed")
    finally:
        receiver.hold.set()
        daemon.stop(signal.SIGTERM)
    assert receiver.url not in daemon.log()  # the URL may carry a token: only its host is logged


def test_a_failing_webhook_is_tried_five_times_then_given_up(
    service: Service, aws: Aws, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook answering 503: five attempts with doubling waits (1, 2, 4, 8 s), each
    retry logged, the last one logged as given up; the rollback is not held up."""
    monkeypatch.setenv("HOOK_URL", receiver.url)
    receiver.status = 503
    daemon = start_with_hook(
        service, tmp_path, "notify:\n  webhooks:\n    - {urlEnv: HOOK_URL, events: [applied]}\n"
    )
    try:
        service.pins(backend=3)
        failed = eventually(
            lambda: daemon.event("webhook_failed"), timeout=90, what="the delivery given up"
        )
    finally:
        daemon.stop(signal.SIGTERM)
    assert [e["attempt"] for e in daemon.events("webhook_retry")] == [1, 2, 3, 4]
    assert failed["attempt"] == 5 and failed["error"] == "HTTP 503"
    assert len(receiver.deliveries) == 5
    assert {body for _, body in receiver.deliveries} == {receiver.deliveries[0][1]}  # one event
