"""A local 'remote' for git-source tests: a bare origin and a clone whose pushes reach the
origin the way another person's would, so only ``git fetch`` brings them to the clone."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit_as(repo: Path, author: str, message: str, *paths: str) -> str:
    """Commit ``paths`` (everything when none) in ``repo`` as ``author``
    <author@example.com>, as that person would; the new commit's id."""
    git(repo, "add", *(paths or ("-A",)))
    email = f"user.email={author.lower()}@example.com"
    git(repo, "-c", f"user.name={author}", "-c", email, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def new_repo(folder: Path, author: str = "Ana", message: str = "first commit", *paths: str) -> str:
    """``git init`` in ``folder`` with ``author`` as its configured identity (the one
    ``pinback rollback --commit`` commits as), and ``paths`` (everything when none)
    committed."""
    folder.mkdir(parents=True, exist_ok=True)
    git(folder, "init", "-q")
    git(folder, "config", "user.name", author)
    git(folder, "config", "user.email", f"{author.lower()}@example.com")
    return commit_as(folder, author, message, *paths)


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
        commit_as(self.clone, author, message)
        # To the URL, not the remote's name: git then leaves this clone's origin/main alone,
        # as a push from someone else's machine would. The controller reading this clone
        # learns of the commit only by fetching it.
        git(self.clone, "push", "-q", str(self.bare), "HEAD:main")
        return git(self.clone, "rev-parse", "HEAD")

    def source(self, poll: str, secret_env: str | None = None) -> str:
        """The ``desiredState`` block of a config reading the pins at origin/main, for a
        controller set up now (its clone has fetched what was pushed so far)."""
        git(self.clone, "fetch", "-q")
        extra = f", webhookSecretEnv: {secret_env}" if secret_env else ""
        return f"  path: {self.pins}\n  git: {{repo: {self.clone}, ref: origin/main, pollInterval: {poll}{extra}}}\n"
