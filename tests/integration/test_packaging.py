"""The container and compose files: non-root, read-only, health-checked, valid."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.stands.service import IN_CI, REPO


def instructions() -> list[tuple[str, str]]:
    lines = (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    found = []
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_image_runs_as_a_non_root_user() -> None:
    users = [rest for word, rest in instructions() if word == "USER"]
    assert users, "the Dockerfile sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_image_checks_health_and_runs_the_controller() -> None:
    found = dict(instructions())
    assert "/healthz" in found["HEALTHCHECK"]
    assert found["ENTRYPOINT"].startswith('["pinback", "run"')
    assert "/var/pinback" in found["VOLUME"]


def test_compose_runs_pinback_read_only_as_that_user() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    pinback = compose["services"]["pinback"]
    assert pinback["read_only"] is True
    assert not str(pinback["user"]).startswith("0")
    assert {"pinback", "moto", "postgres", "prometheus"} <= set(compose["services"])


def test_compose_file_validates() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if IN_CI:
            pytest.fail("docker-compose is required under CI=true (.ci/run installs it)")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    done = subprocess.run(
        [binary, "-f", str(REPO / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
