"""The one ordering rule: may a target's action go now, must it wait, or is it blocked?

Pure. The planner puts each action's predecessors in ``Action.after`` (schema before code
on the way forward, code before schema on the way back, or the config's ``after:``); this
module says what that means at any moment, for the planner, the one-shot applier and the
controller alike:

- a predecessor whose own action is blocked (preflight, policy, a freeze, a hold) blocks
  the action in turn: a backend must not roll forward onto a schema that never moved;
- a predecessor whose apply ended failed or blocked blocks it too ("did not apply");
- a predecessor still to apply, or applying, makes it wait;
- a predecessor at its pin (nothing to do, or applied) lets it go.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from daemon.core.model import Action, Outcome

STOPPED = (Outcome.FAILED, Outcome.BLOCKED)
DONE = (Outcome.APPLIED, Outcome.NOOP)


class Step(StrEnum):
    GO = "go"
    WAIT = "wait"
    BLOCK = "block"


@dataclass(frozen=True)
class Decision:
    step: Step
    on: tuple[str, ...] = ()  # the predecessors that decided it
    reason: str | None = None  # why it is blocked


def decide(
    action: Action,
    planned: Mapping[str, Action],
    settled: Mapping[str, Outcome],
    running: Collection[str] = (),
) -> Decision:
    """What ``action`` may do now, given the plan's actions by target (``planned``), how the
    applies that ended so far ended (``settled``) and the targets applying now."""
    if action.blocked is not None and not action.wait_only:
        return Decision(Step.BLOCK, (), action.blocked)
    blocked = [
        p
        for p in action.after
        if p not in settled
        and (ahead := planned.get(p)) is not None
        and ahead.blocked is not None
        and not ahead.wait_only
    ]
    if blocked:
        first = planned[blocked[0]].blocked
        return Decision(
            Step.BLOCK, tuple(blocked), f"waits on {', '.join(blocked)}, which is blocked: {first}"
        )
    failed = [p for p in action.after if settled.get(p) in STOPPED]
    if failed:
        return Decision(
            Step.BLOCK, tuple(failed), f"waits on {', '.join(failed)}, which did not apply"
        )
    waiting = [
        p for p in action.after if p in running or (p in planned and settled.get(p) not in DONE)
    ]
    if waiting:
        return Decision(Step.WAIT, tuple(waiting))
    return Decision(Step.GO)


def blocked_in_turn(ordered: Sequence[Action]) -> list[Action]:
    """The plan's actions (in apply order) with each action whose predecessor is blocked
    blocked in turn, saying so."""
    planned: dict[str, Action] = {}
    result = []
    for action in ordered:
        decision = decide(action, planned, {})
        if decision.step is Step.BLOCK and action.blocked is None and not action.wait_only:
            action = replace(action, blocked=decision.reason)
        planned[action.target] = action
        result.append(action)
    return result
