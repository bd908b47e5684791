"""`make run` itself, as the README tells a newcomer to use it: the sandbox seeds staging and
prod and one controller starts for both; the README's tour works (a pin edit in staging
rolls staging's backend back, `pinback promote` takes it to prod, `pinback rollback
--last-good` undoes a bad pin in prod); Ctrl-C stops everything.

It runs in a copy of the repo's files (so the test edits the copy's pin file, never the
repo's) on its own free ports, with this test run's virtual environment (its install
stamp says it is set up, so `make` installs nothing).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.stands.service import IN_CI, REPO
from tests.stands.waiting import eventually


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def row(listen: str, environment: str, target: str = "backend") -> dict[str, Any] | None:
    """The controller's ``/status`` row of ``target`` in ``environment``, or None."""
    try:
        with urllib.request.urlopen(f"http://{listen}/status", timeout=5) as answer:
            rows = json.loads(answer.read())["targets"]
    except OSError:
        return None
    return next(
        (r for r in rows if r["target"] == target and r.get("environment") == environment), None
    )


def live(listen: str, environment: str, target: str = "backend") -> str | None:
    found = row(listen, environment, target)
    return None if found is None else str(found["live"])


def sourced(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with the sandbox's ``.sandbox/env`` sourced, as the tour says."""
    exports = (folder / ".sandbox" / "env").read_text().splitlines()
    return {**env, **dict(line.removeprefix("export ").split("=", 1) for line in exports)}


def test_make_run_starts_the_sandbox_and_a_pin_edit_rolls_back(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    if not list(venv.glob(".installed-*")) or shutil.which("make") is None:
        if IN_CI:
            pytest.fail("make run needs make and a venv set up by make (CI=true)")
        pytest.skip("make run needs make and a venv set up by `make setup`")
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("scripts", "config", "state"):
        shutil.copytree(REPO / name, tmp_path / name)
    installed = venv / f".installed-{stamp(tmp_path)}"
    if not installed.exists():
        pytest.fail(f"{venv} was set up from other files: run `make setup` first")
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "config" / "environments.yaml"
    config.write_text(config.read_text().replace("127.0.0.1:9464", listen))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PINBACK_"))}
    env = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "CLOUDFRONT_DISTRIBUTION_ID")}
    run = subprocess.Popen(
        # -o: the stamp counts as up to date whatever the copies' times, so `make` never
        # reinstalls this venv from the copy (which has no package to install)
        ["make", "-o", str(installed), "run", f"VENV={venv}", "PORT=0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal would give it
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(run.stdout or []), daemon=True).start()
    try:
        eventually(
            lambda: live(listen, "prod") == "4" or run.poll() is not None,
            timeout=120,
            what="the controller up",
        )
        assert run.poll() is None, "".join(lines)
        assert any("Sandbox up" in line for line in lines), "".join(lines)
        staging, prod = (tmp_path / "state" / n for n in ("staging.yaml", "desired-versions.yaml"))
        staging.write_text(staging.read_text().replace("revision: 4 ", "revision: 3 "))
        eventually(lambda: live(listen, "staging") == "3", timeout=60, what="staging's rollback")
        assert live(listen, "prod") == "4"

        tour = sourced(tmp_path, env)

        def pinback(*args: str) -> subprocess.CompletedProcess[str]:
            """A command of the README's tour, in a terminal that sourced .sandbox/env."""
            command = [str(venv / "bin" / "pinback"), *args]
            return subprocess.run(
                command, cwd=tmp_path, env=tour, capture_output=True, text=True, check=False
            )

        promoted = pinback("promote", "--from", "staging", "--to", "prod")
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        eventually(lambda: live(listen, "prod") == "3", timeout=60, what="prod's rollback")

        prod.write_text(prod.read_text().replace("imageTag: v1.9.0", "imageTag: v9.9.9"))
        eventually(
            lambda: (row(listen, "prod", "ai-worker") or {}).get("desired") == "v9.9.9",
            timeout=60,
            what="the bad pin seen",
        )
        restored = pinback("rollback", "--last-good", "--env", "prod")
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "ai-worker: v9.9.9 -> v1.9.0" in restored.stdout, restored.stdout
        assert "imageTag: v1.9.0" in prod.read_text() and "revision: 3 " in prod.read_text()
    finally:
        if run.poll() is None:  # else it stopped by itself: the assertion above says why
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            raise
    assert not (tmp_path / ".sandbox" / "env").exists(), "".join(lines)  # the sandbox stopped
    assert live(listen, "prod") is None  # and the controller


def stamp(folder: Path) -> str:
    """The Makefile's install stamp for these files (`cat ... | cksum`)."""
    text = (folder / "pyproject.toml").read_bytes() + (folder / "constraints.txt").read_bytes()
    done = subprocess.run(["cksum"], input=text, capture_output=True, check=True)
    return done.stdout.split()[0].decode()
