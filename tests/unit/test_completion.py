"""Shell completion (click's): target and environment names come from the config the
command line names, and a config that cannot be read offers nothing, never an error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def complete(words: str) -> list[str]:
    """What bash would be offered for the last word of ``words``."""
    done = subprocess.run(
        [sys.executable, "-m", "daemon"],
        env={
            **os.environ,
            "_PINBACK_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        },
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]


def test_target_names_complete_from_the_config() -> None:
    assert complete("pinback versions ") == ["frontend", "backend", "ai-worker", "database"]
    assert complete("pinback rollback a") == ["ai-worker"]
    assert complete("pinback plan --target d") == ["database"]


def test_environment_names_complete_from_the_config_named() -> None:
    assert complete("pinback plan --config config/environments.yaml --env ") == [
        "staging",
        "prod",
    ]
    assert complete("pinback promote --config config/environments.yaml --to p") == ["prod"]
    assert complete("pinback plan --env ") == []  # config/pinback.yaml declares none


def test_an_unreadable_config_offers_nothing() -> None:
    assert complete("pinback versions --config /nonexistent.yaml ") == []
