"""A local 'remote' for git-source tests: a bare origin and a clone that pushes to it."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class Origin:
    def __init__(self, folder: Path) -> None:
        self.bare = folder / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        self.clone = folder / "checkout"
        subprocess.run(
            ["git", "clone", "-q", str(self.bare), str(self.clone)], check=True, capture_output=True
        )
        self.pins = self.clone / "desired-versions.yaml"

    def push(self, author: str, message: str) -> str:
        """Commit everything in the clone as ``author`` and push it to origin/main."""
        git(self.clone, "add", "-A")
        email = f"{author.lower()}@example.com"
        git(
            self.clone,
            "-c",
            f"user.name={author}",
            "-c",
            f"user.email={email}",
            "commit",
            "-q",
            "-m",
            message,
        )
        git(self.clone, "push", "-q", "origin", "HEAD:main")
        return git(self.clone, "rev-parse", "HEAD")

    def source(self, poll: str, secret_env: str | None = None) -> str:
        """The ``desiredState`` block of a config reading the pins at origin/main."""
        extra = f", webhookSecretEnv: {secret_env}" if secret_env else ""
        return f"  path: {self.pins}\n  git: {{repo: {self.clone}, ref: origin/main, pollInterval: {poll}{extra}}}\n"
