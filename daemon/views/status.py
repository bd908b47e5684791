"""The ``status`` document (DESIGN.md §5): desired vs live vs last result, per target.

One function builds it for both ``pinback status`` (observing directly) and the
controller's ``GET /status`` (from its last pass), so the two never disagree in form.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from daemon.core.model import Action, Observed, Outcome, Phase, Pin, Result
from daemon.spec import DesiredState, LoadedConfig


def state_word(observed: Observed, action: Action | None, pinned: bool) -> str:
    if observed.error:
        return f"unknown: {observed.error}"
    if not pinned:
        return "observed only (not pinned)"
    if action is None:
        return "in sync"
    if action.blocked:
        return f"drift, blocked: {action.blocked}"
    if action.wait_only:
        return f"rolling out: {observed.in_progress}"
    return "drift"


def phase_of(
    observed: Observed | None,
    action: Action | None,
    pin: Pin | None,
    last: Result | None = None,
    applying: bool = False,
    held: bool = False,
) -> Phase:
    """One target's phase, from what was observed and planned and what the controller knows
    (an apply running, a hold, the last result); the order of the checks is the order of
    what a person must know first."""
    if pin is not None and pin.suspend:
        return Phase.SUSPENDED
    if applying:
        return Phase.APPLYING
    if observed is None or observed.error:
        return Phase.UNKNOWN
    if held or (action is not None and action.held and not action.wait_only):
        return Phase.HELD
    if action is None or pin is None or pin.version is None:
        return Phase.IN_SYNC
    if action.wait_only:
        return Phase.ROLLING_OUT
    if action.blocked is not None:
        return Phase.FROZEN if action.frozen else Phase.BLOCKED
    if last is not None and last.outcome is Outcome.FAILED and last.desired == action.to_version:
        return Phase.FAILED
    return Phase.DRIFTING


def status_document(
    config: LoadedConfig,
    desired: DesiredState | None,
    observed: Mapping[str, Observed],
    actions: Mapping[str, Action],
    in_sync: set[str],
    results: Mapping[str, Result] | None = None,
    extra: Mapping[str, Any] | None = None,
    held: Mapping[str, str] | None = None,
    applying: Set[str] = frozenset(),
) -> dict[str, Any]:
    """``held`` maps a held target to why; ``applying`` names targets with an apply running."""
    rows = []
    held = held or {}
    for name, target in config.model.targets.items():
        seen = observed.get(name)
        pin = desired.pins.get(name) if desired else None
        row: dict[str, Any] = {
            "target": name,
            "kind": target.kind,
            "desired": pin.version if pin else None,
            "live": seen.live if seen else None,
            "inSync": name in in_sync,
            "state": state_word(
                seen, actions.get(name), pin is not None and pin.version is not None
            )
            if seen
            else "not observed yet",
            "suspended": bool(pin and pin.suspend),
            "owner": target.owner,
            "urgency": target.urgency,
        }
        if config.environment is not None:
            row["environment"] = config.environment
        if seen and seen.error:
            row["error"] = seen.error
        if seen and seen.in_progress:
            row["inProgress"] = seen.in_progress
        if seen and seen.detail.get("stage"):
            row["stage"] = seen.detail["stage"]  # an ECS deployment's lifecycle stage
        action = actions.get(name)
        if action is not None and action.blocked and not action.wait_only:
            row["blockedReason"] = action.blocked
        last = (results or {}).get(name)
        if last is not None:
            row["lastResult"] = last.as_json()
        phase = phase_of(seen, actions.get(name), pin, last, name in applying, name in held)
        row["phase"] = phase.value
        if phase is Phase.HELD:
            row["inSync"] = False
            row["heldReason"] = held.get(name) or (action.blocked if action else None) or "held"
        rows.append(row)
    return {"targets": rows, **(extra or {})}
