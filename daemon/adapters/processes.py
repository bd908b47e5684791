"""The one way pinback runs another program: git, and the shell commands a config names
(a frontend build, a smoke test). Every run has a timeout, captures its output, and ends
as a value (``Ran``) or, for git, as the caller's error type with one sentence. git runs
with an allowlisted environment (``environment.for_git``), never the controller's secrets.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.adapters import environment
from daemon.errors import PinbackError

GIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Ran:
    """How a program ended: its exit code and output, or why it did not finish."""

    code: int | None  # None: it could not start, or ran out of time
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    error: str | None = None  # why it could not start

    @property
    def ok(self) -> bool:
        return self.code == 0

    def tail(self, lines: int) -> str:
        """The last ``lines`` lines it printed (errors first), joined with `` | ``."""
        return " | ".join((self.stderr or self.stdout).strip().splitlines()[-lines:])

    def why(self) -> str:
        """One phrase for a failed run: what it printed last, or why it did not run."""
        if self.error is not None:
            return self.error
        return (self.stderr or self.stdout).strip()


def run(
    args: str | Sequence[str],
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Ran:
    """Run ``args`` (a shell command when a string) and wait at most ``timeout`` seconds."""
    try:
        done = _spawn(args, timeout, cwd, env, text=True)
    except subprocess.TimeoutExpired:
        return Ran(None, timed_out=True)
    except OSError as exc:
        return Ran(None, error=str(exc))
    return Ran(done.returncode, done.stdout, done.stderr)


def _spawn(
    args: str | Sequence[str],
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    text: bool = True,
) -> subprocess.CompletedProcess[Any]:
    return subprocess.run(
        args,
        shell=isinstance(args, str),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=text,
        timeout=timeout,
        check=False,
    )


class Git:
    """``git -C REPO ...``: every git command pinback runs (the pin file's attribution and
    commit, the git source, a frontend build's worktree) goes through one of these."""

    def __init__(
        self,
        repo: Path,
        error: type[PinbackError] = PinbackError,
        timeout: float = GIT_TIMEOUT,
    ) -> None:
        self.repo = repo
        self.error = error
        self.timeout = timeout

    def ran(self, *args: str) -> Ran:
        return run(["git", "-C", str(self.repo), *args], self.timeout, env=environment.for_git())

    def __call__(self, *args: str) -> str:
        """The command's output (stripped), or the error type with git's own words."""
        done = self.ran(*args)
        if done.timed_out:
            raise self.error(f"git {args[0]} failed: no answer in {self.timeout:.0f}s")
        if not done.ok:
            raise self.error(f"git {args[0]} failed: {done.why()}")
        return done.stdout.strip()

    def maybe(self, *args: str) -> str | None:
        """The output, or None when git failed (outside a repository, say)."""
        done = self.ran(*args)
        return done.stdout if done.ok else None

    def show(self, revision: str, path: str) -> bytes:
        """``git show REV:PATH``: a file's bytes as committed (raises the error type)."""
        args = ["git", "-C", str(self.repo), "show", "--end-of-options", f"{revision}:{path}"]
        try:
            done = _spawn(args, self.timeout, env=environment.for_git(), text=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise self.error(f"cannot read {path} at {revision}: {exc}") from None
        if done.returncode != 0:
            error = done.stderr.decode(errors="replace").strip()
            raise self.error(f"cannot read {path} at {revision}: {error}")
        return bytes(done.stdout)
