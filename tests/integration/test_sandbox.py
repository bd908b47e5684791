"""``pinback sandbox`` as a newcomer uses it: start it, plan the repo's pins, roll back, stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.stands.service import COMMITS, REPO, REVISIONS, TAGS, pinback
from tests.stands.waiting import eventually


def env_file(path: Path, process: subprocess.Popen[str]) -> str | None:
    assert process.poll() is None, (
        f"the sandbox exited early: {process.stderr.read() if process.stderr else ''}"
    )
    return path.read_text() if path.exists() and path.read_text().strip() else None


def test_sandbox_serves_the_repo_pins_and_a_full_rollback(tmp_path: Path) -> None:
    """The repo's own config and pin file are in sync against the sandbox; older pins apply; then clean."""
    folder = tmp_path / "sandbox"
    process = subprocess.Popen(
        [sys.executable, "-m", "daemon", "sandbox", "--port", "0", "--dir", str(folder)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "DATABASE_URL", "CLOUDFRONT_"))
        },
    )
    try:
        exports = eventually(
            lambda: env_file(folder / "env", process), timeout=60, what="the sandbox's env file"
        )
        env = dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines())
        env["PINBACK_AUDIT_URL"] = f"sqlite:///{tmp_path / 'audit.db'}"
        assert set(env) >= {"AWS_ENDPOINT_URL", "DATABASE_URL", "CLOUDFRONT_DISTRIBUTION_ID"}
        assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")

        in_sync = pinback("plan", env=env)
        assert in_sync.returncode == 0, in_sync.stdout + in_sync.stderr

        older = tmp_path / "desired-versions.yaml"
        text = (REPO / "state" / "desired-versions.yaml").read_text()
        text = text.replace(COMMITS[-1][:7], COMMITS[-2][:7]).replace(
            "revision: 4 ", "revision: 3 "
        )
        text = text.replace(TAGS[-1], TAGS[-2]).replace(REVISIONS[-1], REVISIONS[-2])
        older.write_text(text)
        applied = pinback("apply", "--yes", "--state", str(older), env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert applied.stdout.count("  ok ") == 4
        clean = pinback("plan", "--state", str(older), env=env)
        assert clean.returncode == 0, clean.stdout + clean.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert not (folder / "env").exists()
