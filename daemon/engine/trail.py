"""An apply's records in the audit trail: one function that turns an action (and its
result) into a record, so every event of an apply names the same fields the same way; and
what the trail tells the read-only half (who denied a version, what a target ran before)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from daemon.adapters.audit import AuditLog
from daemon.core import waslive
from daemon.core.model import Action, Outcome, Result
from daemon.core.records import Entry, Event, Record
from daemon.drivers.base import Progress
from daemon.engine.values import NO_CONTEXT, ApplyContext
from daemon.errors import AuditUnavailable

WAS_LIVE_READ = 500  # records read back for what a target ran: months of changes, one query


class Trail:
    """Records about actions; a no-op without an audit trail (library use, benchmarks)."""

    def __init__(self, audit: AuditLog | None) -> None:
        self.audit = audit

    def plan(self, actions: Sequence[Action], context: ApplyContext) -> None:
        """A ``plan`` record per action, in one commit, before a one-shot apply starts."""
        if self.audit is not None and actions:
            self.audit.append([action_entry(Event.PLAN, a, context) for a in actions])

    def record(
        self,
        event: Event,
        action: Action,
        context: ApplyContext,
        result: Result | None = None,
        error: str | None = None,
    ) -> None:
        """One record about ``action``; raises ``AuditUnavailable`` when it cannot be written."""
        if self.audit is not None:
            self.audit.append([action_entry(event, action, context, result, error)])

    def outcome(
        self, action: Action, context: ApplyContext, result: Result, progress: Progress
    ) -> None:
        """``apply_succeeded`` or ``apply_failed``; a failure to record it is reported, not
        raised (the change is made either way, and the next pass sees it)."""
        event = Event.APPLY_SUCCEEDED if result.outcome is Outcome.APPLIED else Event.APPLY_FAILED
        try:
            self.record(event, action, context, result=result)
        except AuditUnavailable as exc:
            progress(action.target, f"the outcome was not recorded: {exc}")

    def denials(self, target: str) -> dict[str, str]:
        """Who denied each of ``target``'s denied versions and why, in words for a block
        sentence; empty without a trail or when it cannot be read (the block stands)."""
        if self.audit is None:
            return {}
        try:
            found = self.audit.query(target=target, event_name=Event.DENIED)
        except AuditUnavailable:
            return {}
        return {r.desired: denial_words(r) for r in found if r.desired}

    def was_live(self, target: str) -> dict[str, waslive.WasLive]:
        """The versions ``target`` ran, as its records show them (the newest
        ``WAS_LIVE_READ`` records that name what was live); empty without a trail or when it
        cannot be read (a listing is then what AWS holds, as before)."""
        if self.audit is None or self.audit.missing():
            return {}
        try:
            found = self.audit.query(
                target=target, events=list(waslive.NAMING_LIVE), limit=WAS_LIVE_READ
            )
        except AuditUnavailable:
            return {}
        return waslive.was_live(found)


def noted(action: Action, note: str, when: str) -> Action:
    """``action`` with ``[note]`` added to its reason for the audit trail, when ``when``."""
    if not when:
        return action
    return replace(action, reason=f"{action.reason or ''} [{note}]".strip())


def denial_words(record: Record) -> str:
    """``denied by alice at 2026-12-01T04:00:00Z: INC-231 checkout 500s``."""
    words = f"denied by {record.actor or 'someone unknown'} at {record.ts}"
    return f"{words}: {record.reason}" if record.reason else words


def action_entry(
    event: Event,
    action: Action,
    context: ApplyContext = NO_CONTEXT,
    result: Result | None = None,
    error: str | None = None,
) -> Entry:
    """The record of ``event`` about ``action``: the one place that says which field of an
    action, a context and a result goes where in a record."""
    return Entry(
        event=event,
        target=action.target,
        kind=action.kind.value,
        desired=action.to_version,
        live_before=action.from_version,
        live_after=result.live_after if result else None,
        actor=context.actor,
        pin_commit=context.pin_commit,
        reason=action.reason,
        correlation_id=context.correlation_id,
        duration_s=round(result.duration_s, 3) if result else None,
        error=(result.error if result else None) or error,
        epoch=context.epoch,
    )
