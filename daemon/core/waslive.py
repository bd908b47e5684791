"""What a target ran before, from its audit trail, put back into listings that forget it (pure).

ECR lists the tags that exist and ECS the revisions that are ACTIVE, so the tag an ECR
lifecycle rule expired and the revision someone deregistered drop out of ``pinback
versions``: the readiness check, which checks the versions before the live one, would never
see the very loss it is there to find, and count the next listed version as the step back.
The audit trail remembers what was live. A version it shows live that a listing no longer
holds is put back where it belongs, marked not ready (it cannot be deployed as it is), for
the readiness check to say why and for ``pinback rollback --steps`` not to skip past it.

Where it belongs: an ECS revision by its number (revisions are numbered in the order they
were registered). A Lambda image tag by the time it first went live, read as its push time
(an image is pushed before it goes live, so this puts it no older than it was): after every
listed tag pushed later, before every one pushed earlier, to the second as ECR keeps it (in
a tie the listed tag comes first, the trail's time being the latest the push can have
been); several gone between the same two listed ones, newest first. The frontend's listing
keeps its deploy history already, and a database's is its migration chain; other kinds are
left as listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from daemon.core.model import Kind, VersionInfo
from daemon.core.records import Event, Record

# The records that name what was live (``live_before`` and ``live_after``).
NAMING_LIVE = (
    Event.DRIFT_DETECTED,
    Event.PLAN,
    Event.APPLY_STARTED,
    Event.APPLY_SUCCEEDED,
    Event.APPLY_FAILED,
    Event.HEALTH_FAILED,
)
PLACED = (Kind.ECS, Kind.LAMBDA)  # the kinds whose listings forget what was live


@dataclass(frozen=True)
class WasLive:
    """A version the trail shows live: the first and last time it does."""

    version: str
    first: str
    last: str


def was_live(records: Iterable[Record]) -> dict[str, WasLive]:
    """Each version ``records`` show live, by version. A Lambda function running an image no
    tag names is observed as its digest (``sha256:...``), which no pin can name: left out."""
    found: dict[str, WasLive] = {}
    for record in records:
        for version in (record.live_before, record.live_after):
            if not version or version.startswith("sha256:"):
                continue
            known = found.get(version)
            if known is None:
                found[version] = WasLive(version, record.ts, record.ts)
            else:
                first, last = min(known.first, record.ts), max(known.last, record.ts)
                found[version] = WasLive(version, first, last)
    return found


def with_was_live(
    kind: Kind,
    listed: Sequence[VersionInfo],
    history: Mapping[str, WasLive],
    live: str | None,
    complete: bool,
) -> list[VersionInfo]:
    """``listed`` (newest first) with each version of ``history`` it lacks, other than the
    ``live`` one, put where it belongs; ``complete``: the listing holds every version (else
    one that would go after its last entry is left out, as the listing leaves out what is
    older)."""
    if kind not in PLACED:
        return list(listed)
    key = _revision if kind == Kind.ECS else _pushed
    names = {v.version for v in listed}  # a revision number or a tag: the same text or not
    # Each gone version's place among the listed ones: before the first one older than it.
    places: dict[int, list[tuple[float, VersionInfo]]] = {}
    for was in history.values():
        mine = key(was)
        if was.version == live or was.version in names or mine is None:
            continue
        at = next(
            (i for i, v in enumerate(listed) if (theirs := key(v)) is not None and theirs < mine),
            len(listed),
        )
        if at < len(listed) or complete:
            places.setdefault(at, []).append((mine, _unlisted(kind, was)))

    def placed(index: int) -> list[VersionInfo]:
        here = sorted(places.get(index, []), key=lambda p: (-p[0], p[1].version))
        return [version for _, version in here]

    merged: list[VersionInfo] = []
    for index, version in enumerate(listed):
        merged += [*placed(index), version]
    return merged + placed(len(listed))


def _unlisted(kind: Kind, was: WasLive) -> VersionInfo:
    what = "no longer an ACTIVE revision" if kind == Kind.ECS else "its tag is no longer in ECR"
    return VersionInfo(
        version=was.version,
        time=None,
        detail={"lastLive": was.last},
        ready=False,
        why=f"{what} (the audit trail last shows it live at {was.last})",
    )


def _revision(version: VersionInfo | WasLive) -> float | None:
    return float(version.version) if version.version.isdigit() else None


def _pushed(version: VersionInfo | WasLive) -> float | None:
    stamp = version.first if isinstance(version, WasLive) else version.time
    if not stamp:
        return None
    try:  # both carry their zone: ECR's push times and the trail's UTC stamps
        return float(int(dt.datetime.fromisoformat(stamp).timestamp()))
    except ValueError:
        return None
