"""POST /hooks/git: a signed GitHub push fetches and reconciles at once; anything else changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.stands.daemon_process import Daemon
from tests.stands.gitrepo import Origin
from tests.stands.service import Aws, Service, config_copy
from tests.stands.waiting import eventually

SECRET = "gh-hook-secret"
PUSH = json.dumps(
    {"ref": "refs/heads/main", "after": "0" * 40, "repository": {"full_name": "leh/gitops"}}
).encode()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_signed_push_is_fetched_at_once(
    service: Service, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With polling every 10 minutes, only the webhook can explain a prompt rollback."""
    monkeypatch.setenv("GIT_WEBHOOK_SECRET", SECRET)
    origin = Origin(tmp_path)
    origin.pins.write_text(service.current_pins().read_text())
    origin.push("Alice", "initial pins")
    config = config_copy(
        tmp_path,
        {"  path: ../state/desired-versions.yaml\n": origin.source("10m", "GIT_WEBHOOK_SECRET")},
    )
    daemon = Daemon("--config", str(config), "--listen", "127.0.0.1:0")
    hook = daemon.url + "/hooks/git"
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        origin.pins.write_text(origin.pins.read_text().replace("revision: 4", "revision: 3"))
        origin.push("Bob", "roll back backend")

        assert post(hook, PUSH, {}) == 401  # unsigned
        assert (
            post(
                hook,
                PUSH,
                {"X-Hub-Signature-256": signed(PUSH, "wrong"), "X-GitHub-Delivery": "d-0"},
            )
            == 401
        )
        assert aws.proxy.seen("UpdateService") == 0

        headers = {
            "X-Hub-Signature-256": signed(PUSH),
            "X-GitHub-Delivery": "d-1",
            "X-GitHub-Event": "push",
        }
        assert post(hook, PUSH, headers) == 202
        eventually(
            lambda: daemon.event("apply_succeeded"),
            timeout=20,
            what="the rollback after the webhook",
        )
        assert post(hook, PUSH, headers) == 409  # the same delivery again (a replay): refused
        assert aws.proxy.seen("UpdateService") == 1
    finally:
        daemon.stop(signal.SIGTERM)


def test_no_hook_without_a_secret(service: Service, aws: Aws, tmp_path: Path) -> None:
    """Without a git source and a secret, the endpoint does not exist."""
    config = config_copy(tmp_path)
    daemon = Daemon(
        "--config", str(config), "--state", str(service.current_pins()), "--listen", "127.0.0.1:0"
    )
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        assert post(daemon.url + "/hooks/git", PUSH, {"X-Hub-Signature-256": signed(PUSH)}) == 404
    finally:
        daemon.stop(signal.SIGTERM)
