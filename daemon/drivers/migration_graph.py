"""The Alembic revision graph read without running a line of it (DESIGN section 17).

Alembic's ``ScriptDirectory`` imports every migration script to learn its ``revision`` and
``down_revision``; a pull request's new script would then run, with the credentials of the
job that plans it, at ``pinback plan`` (the GitHub Action plans pull requests),
``pinback versions`` and ``GET /versions``. Here each ``*.py`` under the versions folder is
parsed (``ast``) for its module-level ``revision``, ``down_revision`` and docstring, and the
path between two revisions is walked in that graph. Alembic imports scripts only to apply
them, in ``apply``.

A script whose ``revision`` is not a literal string (computed at import) is not
understood: it is left out, and a path that needs it says so.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BASE = "base"


@dataclass(frozen=True)
class Migration:
    revision: str
    down: tuple[str, ...]  # down_revision(s); () for the first
    doc: str  # the docstring's first line (Alembic's message)
    longdoc: str
    path: Path


class UnknownRevision(LookupError):
    """A revision the scripts do not have (or a prefix naming several)."""


def read(folder: Path) -> MigrationGraph:
    """Every migration under ``folder`` (``script_location/versions``), parsed, not run."""
    found: dict[str, Migration] = {}
    for path in sorted(folder.glob("*.py")):
        migration = _parse(path)
        if migration is not None:
            found[migration.revision] = migration
    return MigrationGraph(found)


def _parse(path: Path) -> Migration | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    values: dict[str, object] = {}
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        value = getattr(node, "value", None)
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                try:
                    values[target.id] = ast.literal_eval(value) if value is not None else None
                except ValueError:
                    values[target.id] = ...  # computed: not understood
    revision = values.get("revision")
    if not isinstance(revision, str):
        return None
    down = values.get("down_revision")
    downs: tuple[str, ...]
    if down is None:
        downs = ()
    elif isinstance(down, str):
        downs = (down,)
    elif isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
        downs = tuple(down)
    else:
        return None
    longdoc = ast.get_docstring(tree) or ""
    return Migration(
        revision, downs, longdoc.strip().splitlines()[0] if longdoc.strip() else "", longdoc, path
    )


class MigrationGraph:
    def __init__(self, migrations: dict[str, Migration]) -> None:
        self.migrations = migrations
        below = {d for m in migrations.values() for d in m.down}
        self.heads = sorted(r for r in migrations if r not in below)

    def get(self, revision: str) -> Migration:
        """The migration named by ``revision`` or an unambiguous prefix of it."""
        if revision in self.migrations:
            return self.migrations[revision]
        matches = [r for r in self.migrations if r.startswith(revision)]
        if len(matches) == 1:
            return self.migrations[matches[0]]
        if matches:
            raise UnknownRevision(f"{revision} is ambiguous ({', '.join(sorted(matches))})")
        raise UnknownRevision(f"no such revision {revision}")

    def has(self, revision: str) -> bool:
        return revision == BASE or revision in self.migrations

    def down_from(self, newer: str) -> Iterator[Migration]:
        """``newer`` and every migration below it, nearest first (one branch at a time)."""
        seen: set[str] = set()
        stack = [newer] if newer != BASE else []
        while stack:
            revision = stack.pop(0)
            if revision in seen or revision not in self.migrations:
                continue
            seen.add(revision)
            migration = self.migrations[revision]
            yield migration
            stack.extend(migration.down)

    def is_ancestor(self, older: str, newer: str) -> bool:
        """True when ``older`` lies on the down-revision path of ``newer`` (``base`` always)."""
        if older == BASE:
            return True
        if newer == BASE:
            return False
        return any(m.revision == older for m in self.down_from(newer))

    def between(self, newer: str, older: str) -> list[Migration]:
        """The migrations from ``newer`` down to just above ``older``, newest first: what a
        downgrade from ``newer`` to ``older`` undoes (reversed: what an upgrade runs)."""
        path = []
        for migration in self.down_from(newer):
            if migration.revision == older:
                break
            path.append(migration)
        return path

    def newest_first(self) -> list[Migration]:
        """Every migration, heads first, each before those below it."""
        ordered: list[Migration] = []
        seen: set[str] = set()
        for head in self.heads:
            for migration in self.down_from(head):
                if migration.revision not in seen:
                    seen.add(migration.revision)
                    ordered.append(migration)
        return ordered
