"""An apply's records in the audit trail: one function that turns an action (and its
result) into a record, so every event of an apply names the same fields the same way."""

from __future__ import annotations

from dataclasses import replace

from daemon.adapters.audit import AuditLog
from daemon.core.model import Action, Outcome, Result
from daemon.core.records import Entry, Event
from daemon.drivers.base import Progress
from daemon.engine.values import ApplyContext
from daemon.errors import AuditUnavailable


class Trail:
    """Records about actions; a no-op without an audit trail (library use, benchmarks)."""

    def __init__(self, audit: AuditLog | None) -> None:
        self.audit = audit

    def record(
        self,
        event: Event,
        action: Action,
        context: ApplyContext,
        result: Result | None = None,
        error: str | None = None,
    ) -> None:
        """One record about ``action``; raises ``AuditUnavailable`` when it cannot be written."""
        if self.audit is None:
            return
        self.audit.append(
            [
                Entry(
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
            ]
        )

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


def noted(action: Action, note: str, when: str) -> Action:
    """``action`` with ``[note]`` added to its reason for the audit trail, when ``when``."""
    if not when:
        return action
    return replace(action, reason=f"{action.reason or ''} [{note}]".strip())
