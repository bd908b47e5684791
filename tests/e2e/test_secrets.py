"""No secret anywhere: planted in the database URL and the webhook secret, then looked for in
every byte pinback writes: command output, controller logs, audit records, metrics, /status."""

from __future__ import annotations

import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.stands.daemon_process import Daemon
from tests.stands.service import Aws, Service, config_copy, pinback
from tests.stands.waiting import eventually

DB_SECRET = "db-Pl4nted-s3cret"
HOOK_SECRET = "hook-Pl4nted-s3cret"
HOOK_TOKEN = "T0KEN-in-the-url"


def test_secrets_appear_nowhere(
    service_any_db: Service, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL here trusts every local connection, so a planted password is accepted and
    # must be hidden everywhere; an SQLite URL has no password to plant.
    url = service_any_db.database_url.replace(
        "postgresql://postgres@", f"postgresql://postgres:{DB_SECRET}@"
    )
    received: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv(
        "HOOK_URL", f"http://127.0.0.1:{server.server_address[1]}/services/{HOOK_TOKEN}"
    )
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    hook = "notify:\n  webhooks:\n    - {urlEnv: HOOK_URL, events: [applied, failed, drift, blocked], secretEnv: HOOK_SECRET}\n"
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"}, append=hook)
    pins = service_any_db.pins(backend=3, database="b47e1c2d9a10")
    seen: list[str] = []
    for args in (
        ["validate"],
        ["plan"],
        ["plan", "-o", "json"],
        ["status", "-o", "json"],
        ["versions", "database"],
        ["apply", "--yes"],
    ):
        done = pinback(*args, "--config", str(config), "--state", str(pins))
        seen += [done.stdout, done.stderr]
    daemon = Daemon("--config", str(config), "--state", str(pins), "--listen", "127.0.0.1:0")
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        service_any_db.pins(backend=2, database="b47e1c2d9a10")
        eventually(
            lambda: daemon.event("apply_succeeded"), timeout=30, what="an apply by the controller"
        )
        seen += [daemon.get("/metrics")[1], daemon.get("/status")[1]]
    finally:
        daemon.stop(signal.SIGTERM)
        server.shutdown()
    seen.append(daemon.log())
    for args in (["audit", "-o", "json"], ["audit", "verify"], ["report"]):
        done = pinback(*args, "--config", str(config))
        seen += [done.stdout, done.stderr]
    seen += [body.decode() for body in received]
    everything = "\n".join(seen)
    assert "apply_succeeded" in everything and received  # the scan looked at real output
    for secret in (DB_SECRET, HOOK_SECRET, HOOK_TOKEN):
        assert secret not in everything, f"{secret} leaked"
