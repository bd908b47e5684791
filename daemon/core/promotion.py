"""Which versions may be promoted from one environment to the next (pure).

A version is promoted only when it reached the source environment and passed its gates
there, by the audit trail: its last word there is an ``apply_succeeded`` (a change whose
health gate failed ends in ``health_failed``), or a pin change that was in sync at once
(the version was already live when it was pinned). Anything else is refused with why.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.core import lastgood
from daemon.core.model import Kind, same_version
from daemon.core.records import Event, Record

VERDICTS = frozenset({Event.APPLY_SUCCEEDED, Event.APPLY_FAILED, Event.HEALTH_FAILED})


def unverified(records: Sequence[Record], target: str, version: str, kind: Kind) -> str | None:
    """Why ``version`` of ``target`` cannot be promoted from the environment whose records
    (oldest first) these are; None when it reached it and passed its gates there."""
    about = [r for r in records if r.target == target and r.event in lastgood.TRACKED]
    at_once = lastgood.changes_in_sync_at_once(about)
    verdicts = [
        record
        for index, record in enumerate(about)
        if same_version(kind, record.desired, version)
        and (
            record.event in VERDICTS or (record.event == Event.DESIRED_CHANGED and index in at_once)
        )
    ]
    verdict = verdicts[-1] if verdicts else None
    if verdict is None:
        return f"{target} {version} never reached it"
    if verdict.event == Event.HEALTH_FAILED:
        return f"{target} {version} failed its health gate there ({verdict.ts}: {verdict.error})"
    if verdict.event == Event.APPLY_FAILED:
        return f"{target} {version} failed to apply there ({verdict.ts}: {verdict.error})"
    return None
