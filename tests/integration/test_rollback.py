"""`pinback rollback`: a pin rewritten in place, comments kept, validated, optionally committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.stands.gitrepo import new_repo
from tests.stands.service import COMMITS, REPO, REVISIONS, TAGS, Aws, Service, pinback


def repo_pins(folder: Path) -> Path:
    """The repo's own pin file (with its comments), copied into a fresh git repository."""
    path = folder / "desired-versions.yaml"
    shutil.copy(REPO / "state" / "desired-versions.yaml", path)
    new_repo(folder, message="pins")
    return path


def test_steps_back_keeps_comments_and_layout(service: Service, aws: Aws, tmp_path: Path) -> None:
    """--steps 1 picks the next older revision; only that line changes."""
    pins = repo_pins(tmp_path)
    before = pins.read_text()
    done = pinback("rollback", "backend", "--steps", "1", "--state", str(pins))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("backend: 4 -> 3 in ")
    after = pins.read_text()
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        (
            "    revision: 4                 # ECS task-definition revision of leh-backend",
            "    revision: 3                 # ECS task-definition revision of leh-backend",
        )
    ]
    assert pinback("validate", "--state", str(pins)).returncode == 0


def test_to_a_version_with_reason_and_commit(service: Service, aws: Aws, tmp_path: Path) -> None:
    """--to with --reason and --commit: the pin, its reason, and a git commit saying what changed."""
    pins = repo_pins(tmp_path)
    done = pinback(
        "rollback",
        "ai-worker",
        "--to",
        TAGS[1],
        "--reason",
        "INC-231 worker crash",
        "--commit",
        "--state",
        str(pins),
    )
    assert done.returncode == 0, done.stderr
    text = pins.read_text()
    assert f"imageTag: {TAGS[1]}" in text and "reason: INC-231 worker crash" in text
    log = subprocess.run(
        ["git", "-C", str(tmp_path), "log", "-1", "--format=%s%n%b"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log.startswith(f"pinback rollback: ai-worker {TAGS[-1]} -> {TAGS[1]}")
    assert "Reason: INC-231 worker crash" in log
    assert (
        subprocess.run(
            ["git", "-C", str(tmp_path), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        == ""
    )


def test_frontend_and_database_versions(service: Service, aws: Aws, tmp_path: Path) -> None:
    pins = repo_pins(tmp_path)
    assert (
        pinback("rollback", "frontend", "--to", COMMITS[1][:8], "--state", str(pins)).returncode
        == 0
    )
    assert f"commit: {COMMITS[1]}" in pins.read_text()
    assert pinback("rollback", "database", "--steps", "1", "--state", str(pins)).returncode == 0
    assert f"revision: {REVISIONS[-2]}" in pins.read_text()


def test_unknown_version_leaves_the_file_untouched(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    pins = repo_pins(tmp_path)
    before = pins.read_text()
    done = pinback("rollback", "backend", "--to", "99", "--state", str(pins))
    assert done.returncode == 1
    assert "version 99 of backend does not exist" in done.stderr
    too_far = pinback("rollback", "backend", "--steps", "10", "--state", str(pins))
    assert too_far.returncode == 1 and "cannot go back 10" in too_far.stderr
    assert pins.read_text() == before


def test_invalid_pin_file_is_refused_untouched(service: Service, aws: Aws, tmp_path: Path) -> None:
    pins = repo_pins(tmp_path)
    broken = pins.read_text().replace("revision: 4", "revision: four")
    pins.write_text(broken)
    done = pinback("rollback", "backend", "--steps", "1", "--state", str(pins))
    assert done.returncode == 1 and "spec.backend.revision" in done.stderr
    assert pins.read_text() == broken


def test_needs_exactly_one_of_steps_or_to(tmp_path: Path) -> None:
    done = pinback("rollback", "backend")
    assert done.returncode == 1 and "exactly one of --steps N or --to VERSION" in done.stderr
