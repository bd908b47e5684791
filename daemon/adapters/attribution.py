"""Who pinned what: the git commit, author and message behind the pin file.

``desired_changed`` records carry these, so an incident review can name the person and
the reason. An edit not yet committed is said to be uncommitted rather than credited to
the last commit. Outside a git repository there is nothing to attribute.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

from daemon.adapters.processes import Git

UNCOMMITTED = "uncommitted"


@dataclass(frozen=True)
class Attribution:
    commit: str  # 40 hex, or "uncommitted"
    author: str | None
    message: str | None


def attribute(path: Path) -> Attribution | None:
    """The last commit that touched ``path``, or ``uncommitted`` when the file differs from it."""
    folder = path.resolve().parent
    name = path.resolve().name
    status = _git(folder, "status", "--porcelain", "--", name)
    if status is None:
        return None
    if status.strip():
        return Attribution(UNCOMMITTED, f"{getpass.getuser()} (local edit)", None)
    last = _git(folder, "log", "-1", "--format=%H%x1f%an <%ae>%x1f%s", "--", name)
    if not last or not last.strip():
        return Attribution(UNCOMMITTED, f"{getpass.getuser()} (local edit)", None)
    commit, author, message = [*last.strip().split("\x1f"), "", ""][:3]
    return Attribution(commit, author, message)


def _git(folder: Path, *args: str) -> str | None:
    return Git(folder, timeout=10).maybe(*args)


def local_actor(command: str) -> str:
    """The person behind a one-shot command."""
    return f"{getpass.getuser()} via pinback {command}"
