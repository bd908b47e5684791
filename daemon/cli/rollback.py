"""``pinback rollback``: change one pin in place, comments and layout kept, optionally committed.

A rollback is only a pin change, so it never fights the controller: the controller
sees the new pin and does the rest. The version is chosen from what ``versions``
lists (N steps older than the current pin, or a named one that exists), the new file
is validated before it replaces the old one (atomically), and nothing is written
when anything is wrong.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from daemon.adapters.processes import Git
from daemon.core.model import Kind, VersionInfo
from daemon.errors import PinbackError, SpecError
from daemon.spec import PIN_FIELD, DesiredState, LoadedConfig, load_desired


@dataclass(frozen=True)
class Change:
    target: str
    before: str | None
    after: str
    commit: str | None = None


def choose(
    target: str,
    versions: Sequence[VersionInfo],
    current: str | None,
    steps: int | None,
    to: str | None,
) -> str:
    """The version to pin: ``to`` if it exists, else ``steps`` older than ``current``."""
    names = [v.version for v in versions]
    if to is not None:
        matches = [n for n in names if n == to or n.startswith(to)]
        if len(matches) != 1:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            why = "is ambiguous" if matches else "does not exist"
            raise PinbackError(
                f"version {to} of {target} {why} (newest first: {shown}); see `pinback versions {target}`"
            )
        return matches[0]
    assert steps is not None
    live = next((i for i, v in enumerate(versions) if v.live), None)
    here = next(
        (i for i, n in enumerate(names) if current and (n == current or n.startswith(current))),
        live,
    )
    if here is None:
        raise PinbackError(
            f"cannot tell where {target}'s current pin {current} is among its versions; use --to"
        )
    if here + steps >= len(names):
        raise PinbackError(
            f"{target} has only {len(names) - here - 1} version(s) older than {names[here]}; cannot go back {steps}"
        )
    return names[here + steps]


def rewrite(
    path: Path, config: LoadedConfig, target: str, version: str, reason: str | None
) -> tuple[str | None, DesiredState]:
    """Set the pin in ``path`` (comments kept), validate, and replace the file atomically."""
    kind = config.kind_of(target)
    field = PIN_FIELD[kind]
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    text = path.read_text(encoding="utf-8")
    document: Any = yaml.load(text)
    spec = document.setdefault("spec", {})
    entry = spec.get(target)
    if entry is None:
        spec[target] = entry = {}
    before = entry.get(field)
    entry[field] = int(version) if kind is Kind.ECS else version
    if reason is not None:
        entry["reason"] = reason
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    updated = buffer.getvalue()
    folder = path.resolve().parent
    handle, temporary = tempfile.mkstemp(prefix=".pinback-", suffix=".yaml", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(updated)
        try:
            desired = load_desired(Path(temporary), config)
        except SpecError as exc:
            raise PinbackError(
                "the rewritten pin file would not validate:\n"
                + str(exc).replace(temporary, str(path))
            ) from None
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return (str(before) if before is not None else None), desired


def commit(path: Path, message: str) -> str:
    """``git commit`` the pin file alone; returns the new commit."""
    git = Git(path.resolve().parent)
    git("add", "--", path.name)
    git("commit", "-q", "-m", message, "--", path.name)
    return git("rev-parse", "HEAD")
