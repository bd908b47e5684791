"""The ``status`` document (DESIGN.md §5): desired vs live vs last result, per target.

One function builds it for both ``pinback status`` (observing directly) and the
controller's ``GET /status`` (from its last pass), so the two never disagree in form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.model import Action, Observed, Result
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


def status_document(
    config: LoadedConfig,
    desired: DesiredState | None,
    observed: Mapping[str, Observed],
    actions: Mapping[str, Action],
    in_sync: set[str],
    results: Mapping[str, Result] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    rows = []
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
        if seen and seen.error:
            row["error"] = seen.error
        if seen and seen.in_progress:
            row["inProgress"] = seen.in_progress
        last = (results or {}).get(name)
        if last is not None:
            row["lastResult"] = last.as_json()
        rows.append(row)
    return {"targets": rows, **(extra or {})}
