"""The last moment a whole environment was good, read from its audit trail (pure).

``pinback rollback --last-good`` pins every target back to what was live then. A moment is
good when every pinned target was in sync and none was held or failing. The trail says so
without a record per pass, by what it does *not* hold: the controller records a pin change
(``desired_changed``), then, only when live differs, the drift and the apply that follows
(a one-shot ``pinback apply`` records its ``plan`` instead of the drift).
So a pin change followed by none of those about its target was in sync at once, and a
target is good again from its ``apply_succeeded`` (a change whose health gate failed ends in
``health_failed`` instead).

Replayed oldest first, every record is a moment; the last at which every target stands
good is the answer, with each target's version then.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from daemon.core.model import Kind, same_version
from daemon.core.records import Event, Record

# The records that say where a target stands; everything else leaves it as it was.
TRACKED = frozenset(
    {
        Event.DESIRED_CHANGED,
        Event.PLAN,
        Event.DRIFT_DETECTED,
        Event.APPLY_STARTED,
        Event.APPLY_SUCCEEDED,
        Event.APPLY_FAILED,
        Event.HEALTH_FAILED,
        Event.BLOCKED,
    }
)
# After a pin change, any of these about the target means live did not match at once.
NOT_AT_ONCE = frozenset(
    {Event.PLAN, Event.DRIFT_DETECTED, Event.APPLY_STARTED, Event.BLOCKED, Event.APPLY_FAILED}
)


@dataclass(frozen=True)
class GoodMoment:
    """The last good moment: the record it follows and each target's version then."""

    seq: int
    ts: str
    versions: Mapping[str, str]


def last_good(records: Sequence[Record], targets: Collection[str]) -> GoodMoment | None:
    """The last moment in ``records`` (oldest first) when every one of ``targets`` was in
    sync at a known version and none was held or failing (versions in ``targets``' order);
    None when there was none."""
    wanted = set(targets)
    if not wanted:
        return None
    relevant = [r for r in records if r.target in wanted and r.event in TRACKED]
    at_once = changes_in_sync_at_once(relevant)
    good: dict[str, str] = {}  # target -> its version while it stands good
    found: GoodMoment | None = None
    for index, record in enumerate(relevant):
        target = str(record.target)
        version = _good_version(record, index in at_once)
        if version is None:
            good.pop(target, None)
        else:
            good[target] = version
        if len(good) == len(wanted):
            found = GoodMoment(record.seq, record.ts, {t: good[t] for t in targets})
    return found


def _good_version(record: Record, in_sync_at_once: bool) -> str | None:
    """The version ``record`` leaves its target good at, or None when it leaves it not good."""
    if record.event == Event.APPLY_SUCCEEDED:
        return record.live_after or record.desired
    if record.event == Event.DESIRED_CHANGED and in_sync_at_once:
        return record.desired
    return None


def changes_in_sync_at_once(records: Sequence[Record]) -> set[int]:
    """Indexes of the ``desired_changed`` records that no drift, apply or block about the
    same target follows before its next pin change: live already matched that pin."""
    result: set[int] = set()
    pending: dict[str, int] = {}  # target -> index of its last pin change not yet contradicted
    for index, record in enumerate(records):
        target = str(record.target)
        if record.event == Event.DESIRED_CHANGED:
            if target in pending:
                result.add(pending[target])
            pending[target] = index
        elif record.event in NOT_AT_ONCE:
            pending.pop(target, None)
    result.update(pending.values())
    return result


def changes_to(
    moment: GoodMoment, pins: Mapping[str, str | None], kinds: Mapping[str, Kind]
) -> dict[str, str]:
    """The pins to rewrite to go back to ``moment``: each target whose pin differs."""
    return {t: v for t, v in moment.versions.items() if not same_version(kinds[t], pins.get(t), v)}
