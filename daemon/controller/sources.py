"""Where the pins come from: the working tree, or a git ref that is fetched on a timer.

With ``desiredState.git``, the pin that counts is the one committed and pushed: the
controller runs ``git fetch`` every ``pollInterval`` and reads the file at ``ref``
(``git show ref:path``), so an edit nobody pushed changes nothing. Attribution then
comes from the commit at that ref that last touched the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from daemon.adapters.attribution import Attribution, attribute
from daemon.adapters.processes import Git
from daemon.errors import ConfigError
from daemon.spec import LoadedConfig


@dataclass(frozen=True)
class Pins:
    """The pin file's bytes as the source has them, what to call them, and who wrote them."""

    raw: bytes
    name: str
    attribution: Attribution | None


class FileSource:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> Pins:
        raw = self.path.read_bytes()
        return Pins(raw, str(self.path), None)

    def attribution(self) -> Attribution | None:
        return attribute(self.path)

    def refresh(self) -> bool:
        """Nothing to fetch: the file watcher reports changes."""
        return False


class GitSource:
    """Refs go to git after ``--end-of-options`` and must pass ``git check-ref-format``; the
    pin file must lie inside the repository, links resolved (DESIGN section 17)."""

    def __init__(self, repo: Path, ref: str, path: Path) -> None:
        self.repo = repo
        self.ref = ref
        self._git = Git(repo, ConfigError)
        self._git("check-ref-format", "--allow-onelevel", ref)  # the spec refused "-..."
        top = self._git("rev-parse", "--show-toplevel")
        self.top = Path(top)
        resolved = path.resolve()
        if not resolved.is_relative_to(self.top.resolve()):
            raise ConfigError(
                f"desiredState.path {path} resolves to {resolved}, outside the git repository "
                f"{self.top}: the pins must be a file of that repository"
            )
        self.relative = resolved.relative_to(self.top.resolve()).as_posix()
        self._last: str | None = None

    def refresh(self) -> bool:
        """``git fetch``; True when the ref now points at another commit."""
        self._git("fetch", "--quiet", "--prune")
        head = self._git("rev-parse", "--verify", "--end-of-options", f"{self.ref}^{{commit}}")
        head = head.strip()
        changed = head != self._last
        self._last = head
        return changed

    def read(self) -> Pins:
        content = self._git.show(self.ref, self.relative)
        return Pins(content, f"{self.ref}:{self.relative}", self.attribution())

    def attribution(self) -> Attribution | None:
        last = self._git(
            "log",
            "-1",
            "--format=%H%x1f%an <%ae>%x1f%s",
            "--end-of-options",
            self.ref,
            "--",
            self.relative,
        ).strip()
        if not last:
            return None
        commit, author, message = [*last.split("\x1f"), "", ""][:3]
        return Attribution(commit, author, message)


Source = FileSource | GitSource


def source_for(config: LoadedConfig, state_path: Path) -> Source:
    git = config.model.desired_state.git
    if git is None:
        return FileSource(state_path)
    return GitSource(config.resolve(git.repo), git.ref, state_path)
