"""Rewriting pins in place for ``pinback rollback`` and ``pinback promote``: comments and
layout kept, optionally committed, with the ``denied`` and ``promoted`` records.

A rollback is only a pin change, so it never fights the controller: the controller
sees the new pins and does the rest. The version is chosen from what ``versions``
lists (N steps older than the current pin, or a named one that exists), or for every
target at once from the audit trail's last good moment (``--last-good``); the new file
is validated before it replaces the old one (atomically, in one write however many pins
change), and nothing is written when anything is wrong.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from daemon.adapters.attribution import UNCOMMITTED, attribute, local_actor
from daemon.adapters.audit import AuditLog, trail_for
from daemon.adapters.processes import Git
from daemon.core import lastgood
from daemon.core.model import Kind, VersionInfo, same_version
from daemon.core.records import Entry, Event
from daemon.errors import AuditUnavailable, PinbackError, SpecError
from daemon.spec import DesiredState, LoadedConfig, installed, load_desired


def choose(
    target: str,
    versions: Sequence[VersionInfo],
    current: str | None,
    steps: int | None,
    to: str | None,
) -> str:
    """The version to pin: ``to`` if it exists, else ``steps`` older than ``current``; never
    one known not to be deployable (a tag or revision gone that the target ran before is
    listed, so that ``--steps`` counts it rather than skipping to a build never released)."""
    names = [v.version for v in versions]
    if to is not None:
        matches = [n for n in names if n == to or n.startswith(to)]
        if len(matches) != 1:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            why = "is ambiguous" if matches else "does not exist"
            raise PinbackError(
                f"version {to} of {target} {why} (newest first: {shown}); see `pinback versions {target}`"
            )
        return _deployable(target, versions[names.index(matches[0])])
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
    return _deployable(target, versions[here + steps])


def _deployable(target: str, chosen: VersionInfo) -> str:
    """``chosen``'s name, unless it is known not to be deployable: a pin to it would only be
    blocked, in the middle of the incident that needs the rollback."""
    if chosen.ready is False:
        raise PinbackError(
            f"{target} {chosen.version} cannot be deployed: {chosen.why}; pick another "
            f"version with --steps or --to (see `pinback versions {target}`)"
        )
    return chosen.version


def write(
    config: LoadedConfig,
    desired: DesiredState,
    chosen: Mapping[str, str],
    reason: str | None,
    deny: bool,
    make_commit: bool,
    what: str,
) -> list[str]:
    """Rewrite the pins of ``chosen`` (denying the versions left with ``deny``), commit with
    ``make_commit``, record the denials; returns the lines that say what was done."""
    kinds = {n: config.kind_of(n) for n in chosen}
    current = {n: p.version for n, p in desired.pins.items()}
    leaving = {
        n: v
        for n in chosen
        if (v := current.get(n)) is not None and not same_version(kinds[n], v, chosen[n])
    }
    unrecorded: list[str] = []

    def record_denials() -> None:
        """Before the file is replaced: a controller watching it records a denial it has
        not seen recorded, and this record, with who denied and why, must be the one. With
        ``--commit`` the denier is the author the commit is about to have."""
        if not (deny and leaving):
            return
        author = committer(desired.path) if make_commit else None
        try:
            record(
                trail_for(config), config, desired.path, Event.DENIED, leaving, reason, actor=author
            )
        except AuditUnavailable as exc:
            unrecorded.append(
                f"the denial is in the pin file but not yet in the audit trail ({exc}); the controller records it when it sees the file"
            )

    befores, _ = rewrite(
        desired.path, config, chosen, reason, leaving if deny else None, record_denials
    )
    moves = {n: f"{befores[n] or '(unpinned)'} -> {v}" for n, v in chosen.items()}
    lines = [f"{n}: {move} in {desired.path}" for n, move in moves.items()]
    if make_commit:
        message = f"pinback {what}: " + "; ".join(f"{n} {move}" for n, move in moves.items())
        if reason:
            message += f"\n\nReason: {reason}"
        lines.append(f"commit {commit(desired.path, message)[:12]}")
    if deny and leaving:
        lines += unrecorded + [f"denied {n} {v}" for n, v in leaving.items()]
    return lines


def rewrite(
    path: Path,
    config: LoadedConfig,
    versions: Mapping[str, str],
    reason: str | None,
    deny: Mapping[str, str] | None = None,
    validated: Callable[[], None] | None = None,
) -> tuple[dict[str, str | None], DesiredState]:
    """Set the pins of ``versions`` in ``path`` (comments kept), add ``deny``'s versions to
    their targets' ``deny:`` lists, validate, call ``validated``, and replace the file
    atomically, in one write. Returns each changed target's pin before."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    text = path.read_text(encoding="utf-8")
    document: Any = yaml.load(text)
    spec = document.setdefault("spec", {})
    before: dict[str, str | None] = {}
    for target, version in versions.items():
        kind = config.kind_of(target)
        entry = spec.get(target)
        if entry is None:
            spec[target] = entry = {}
        field = installed().get(kind).pin_field
        was = entry.get(field)
        before[target] = str(was) if was is not None else None
        entry[field] = _typed(kind, version)
        if reason is not None:
            entry["reason"] = reason
    for target, version in (deny or {}).items():
        entry = spec.setdefault(target, {})
        denied = entry.setdefault("deny", [])
        if version not in [str(d) for d in denied]:
            denied.append(_typed(config.kind_of(target), version))
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
        if validated is not None:
            validated()
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return before, desired


def _typed(kind: Kind, version: str) -> str | int:
    """A version as the pin file writes it: an ECS revision is a number."""
    return int(version) if kind == Kind.ECS else version


def committer(path: Path) -> str | None:
    """Who a commit made now in the pin file's repository would name as its author."""
    ident = Git(path.resolve().parent).maybe("var", "GIT_AUTHOR_IDENT")
    return ident.strip().rsplit(" ", 2)[0] if ident and ident.strip() else None


def commit(path: Path, message: str) -> str:
    """``git commit`` the pin file alone; returns the new commit."""
    git = Git(path.resolve().parent)
    git("add", "--", path.name)
    git("commit", "-q", "-m", message, "--", path.name)
    return git("rev-parse", "HEAD")


def last_good_versions(
    audit: AuditLog,
    config: LoadedConfig,
    desired: DesiredState,
    before: dt.datetime | None,
    shown: str | None,
) -> tuple[lastgood.GoodMoment, dict[str, str]]:
    """The pins that take every pinned target back to the last good moment in the trail."""
    targets = [n for n, p in desired.pins.items() if p.version is not None and not p.suspend]
    found = audit.query(until=before, events=sorted(lastgood.TRACKED))
    moment = lastgood.last_good(found, targets)
    if moment is None:
        when = f" before {shown}" if shown else ""
        raise PinbackError(
            f"the audit trail has no moment{when} when all of {', '.join(targets)} were in "
            "sync and none was held or failing; pin versions one by one with --to"
        )
    pins = {n: p.version for n, p in desired.pins.items()}
    kinds = {n: config.kind_of(n) for n in targets}
    return moment, lastgood.changes_to(moment, pins, kinds)


def record(
    audit: AuditLog,
    config: LoadedConfig,
    path: Path,
    event: Event,
    versions: Mapping[str, str],
    reason: str | None,
    before: Mapping[str, str | None] | None = None,
    actor: str | None = None,
) -> None:
    """A record of ``event`` (``denied``, ``promoted``) per version, naming who: ``actor``,
    else the commit's author when the pin file was committed, else the person at the
    terminal. A denial recorded here is not recorded again by the controller that sees it."""
    who = None if actor else attribute(path)
    committed = who is not None and who.commit != UNCOMMITTED
    command = "promote" if event is Event.PROMOTED else "rollback"
    actor = actor or (who.author if who is not None and committed else None) or local_actor(command)
    audit.append(
        [
            Entry(
                event=event,
                target=name,
                kind=config.kind_of(name).value,
                desired=version,
                live_before=(before or {}).get(name),
                actor=actor,
                pin_commit=who.commit if who is not None and committed else None,
                reason=reason,
            )
            for name, version in versions.items()
        ]
    )
