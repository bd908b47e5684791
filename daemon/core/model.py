"""Value types shared by the planner, the drivers and the engine.

Plain frozen dataclasses: no I/O, no clock, no AWS types. The planner is fed these
and returns these, which is what makes it testable with tables of values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from daemon.errors import Then


class Kind(str):
    """What a target is: one of the built-in kinds below, or the name a plug-in's entry point
    declares (DESIGN section 11). Decides which driver owns a target and which pin field it
    takes. Open, so the planner and the records carry a plug-in's kind like any other; a
    plain ``str`` with ``value`` so code written for an enum still reads it."""

    __slots__ = ()

    FRONTEND: ClassVar[Kind]
    ECS: ClassVar[Kind]
    LAMBDA: ClassVar[Kind]
    ALEMBIC: ClassVar[Kind]

    @property
    def value(self) -> str:
        return str.__str__(self)


Kind.FRONTEND = Kind("frontend")
Kind.ECS = Kind("ecs")
Kind.LAMBDA = Kind("lambda")
Kind.ALEMBIC = Kind("alembic")
BUILT_IN_KINDS = (Kind.FRONTEND, Kind.ECS, Kind.LAMBDA, Kind.ALEMBIC)


class Direction(StrEnum):
    FORWARD = "forward"
    BACK = "back"
    NONE = "none"


class Outcome(StrEnum):
    """How one target's pass ended; the values are the ``result`` label of the metrics."""

    NOOP = "noop"
    APPLIED = "applied"
    FAILED = "failed"
    BLOCKED = "blocked"


class Phase(StrEnum):
    """Where one target stands, in the words of ``/status`` and the page (DESIGN section 9)."""

    IN_SYNC = "InSync"
    DRIFTING = "Drifting"  # live differs from the pin; the controller is on it
    APPLYING = "Applying"  # an apply of this controller is running
    ROLLING_OUT = "RollingOut"  # live is the pin, its rollout is still going on
    BLOCKED = "Blocked"  # preflight or policy refuses the pin (sentence in the row)
    FROZEN = "Frozen"  # a freeze window holds the apply back
    FAILED = "Failed"  # the last apply of this pin failed; retried with backoff
    HELD = "Held"  # failed in a way retrying cannot fix; left alone until the pin changes
    SUSPENDED = "Suspended"  # the pin says suspend: true
    UNKNOWN = "Unknown"  # live state could not be read (or not yet)


@dataclass(frozen=True)
class Pin:
    """What people asked for one target, as plain values (from the pin file)."""

    version: str | None
    suspend: bool = False
    allow_destructive: bool = False
    override: bool = False
    reason: str | None = None
    # Versions that must not be applied (``deny:``). Not part of a pin's identity: denying
    # another version neither changes the pin nor lifts a hold on it.
    denied: tuple[str, ...] = field(default=(), compare=False)

    def denies(self, version: str, kind: Kind) -> str | None:
        """The ``deny:`` entry that names ``version``."""
        return next((d for d in self.denied if same_version(kind, version, d)), None)


def same_version(kind: Kind, one: str | None, other: str | None) -> bool:
    """Whether two versions of a target name the same thing: the same text, or for a commit
    the same commit written shorter (``9f1c2ab`` and ``9f1c2ab4...``)."""
    if one is None or other is None:
        return one == other
    if kind == Kind.FRONTEND:
        return one.startswith(other) or other.startswith(one)
    return one == other


@dataclass(frozen=True)
class Observed:
    """Live state of one target as a driver read it.

    ``live`` is the driver's canonical version (full commit, revision number, image
    tag, Alembic revision) or None when nothing is deployed. ``rank`` orders versions
    of one target, newer higher, so the planner can tell a roll-back from a roll-forward
    without knowing what the versions mean. ``in_progress`` describes a change that is
    still rolling out (to be waited on, never re-issued). ``error`` means live state is
    unknown.
    """

    target: str
    kind: Kind
    live: str | None
    rank: float | None = None
    in_progress: str | None = None
    error: str | None = None
    detail: Mapping[str, str] = field(default_factory=dict)
    # Live is this version for part of the traffic only (an alias's weights send the rest to
    # another): not in sync; applying the same version makes it whole. Says how, in words.
    partial: str | None = None


@dataclass(frozen=True)
class Resolved:
    """A pin checked against what exists: the canonical desired version, or why it is refused.

    ``direction`` is set by drivers that know it better than ranks do (Alembic walks
    the revision graph). ``steps`` are the individual moves (Alembic revisions) and
    ``destructive`` says, in words, which of them drop a table or column. ``notes`` are
    what the plan should tell a reader (a source of truth that could not be read, say).
    ``held``: the refusal is AWS's verdict on this version (ECS rolled it back by itself, its
    deployment failed): the target is held, not merely blocked, until the pin changes.
    """

    target: str
    desired: str
    rank: float | None = None
    direction: Direction | None = None
    refused: str | None = None
    steps: tuple[str, ...] = ()
    destructive: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    held: bool = False


@dataclass(frozen=True)
class Action:
    """One target's change, in the form ``plan -o json`` prints."""

    target: str
    kind: Kind
    from_version: str | None
    to_version: str
    direction: Direction
    destructive: bool = False
    blocked: str | None = None
    after: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    wait_only: bool = False
    notes: tuple[str, ...] = ()
    reason: str | None = None
    frozen: bool = False  # blocked by a freeze window (``blocked`` names it)
    held: bool = False  # blocked because AWS undid or failed this version (``Resolved.held``)

    def as_json(self) -> dict[str, object]:
        document: dict[str, object] = {
            "target": self.target,
            "kind": self.kind.value,
            "from": self.from_version,
            "to": self.to_version,
            "direction": self.direction.value,
            "destructive": self.destructive,
            "after": list(self.after),
        }
        if self.steps:
            document["steps"] = list(self.steps)
        if self.wait_only:
            document["waitOnly"] = True
        if self.notes:
            document["notes"] = list(self.notes)
        if self.reason:
            document["reason"] = self.reason
        if self.blocked is not None:
            document["blocked"] = self.blocked
        if self.held:
            document["held"] = True
        return document


@dataclass(frozen=True)
class Plan:
    """Actions in apply order, plus the targets found in sync and those that could not be read."""

    actions: tuple[Action, ...]
    in_sync: tuple[str, ...] = ()
    unobserved: Mapping[str, str] = field(default_factory=dict)

    @property
    def changes(self) -> int:
        return len(self.actions)

    def as_json(self) -> dict[str, object]:
        document: dict[str, object] = {
            "changes": self.changes,
            "actions": [a.as_json() for a in self.actions],
            "inSync": list(self.in_sync),
        }
        if self.unobserved:
            document["errors"] = dict(self.unobserved)
        return document


@dataclass(frozen=True)
class Result:
    """How applying one action ended, with what was live before and after."""

    target: str
    kind: Kind
    outcome: Outcome
    desired: str | None
    live_before: str | None
    live_after: str | None
    duration_s: float
    error: str | None = None
    detail: Mapping[str, str] = field(default_factory=dict)
    then: Then = Then.RETRY  # after a failure: what the error's type says comes next
    gate_failed: bool = False  # the change took and its health gate failed (held or reverted)

    @property
    def held(self) -> bool:
        """Failed in a way retrying cannot fix: left alone until the pin changes."""
        return self.outcome is Outcome.FAILED and self.then is Then.HOLD

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "kind": self.kind.value,
            "result": self.outcome.value,
            "desired": self.desired,
            "liveBefore": self.live_before,
            "liveAfter": self.live_after,
            "durationSeconds": round(self.duration_s, 3),
            "error": self.error,
            **({"held": True} if self.held else {}),
            **({"detail": dict(self.detail)} if self.detail else {}),
        }


@dataclass(frozen=True)
class VersionInfo:
    """One version a target can be set to, for ``pinback versions`` (newest first)."""

    version: str
    time: str | None
    live: bool = False
    detail: Mapping[str, str] = field(default_factory=dict)
    # For a version older than the live one: would a rollback to it pass its checks now
    # (artifacts, revision, image, migration path), and why not. None: not checked.
    ready: bool | None = None
    why: str | None = None

    def as_json(self) -> dict[str, object]:
        checked = {} if self.ready is None else {"ready": self.ready, "why": self.why}
        return {
            "version": self.version,
            "time": self.time,
            "live": self.live,
            **self.detail,
            **checked,
        }
