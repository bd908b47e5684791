"""The pure core: desired pins + observed live state -> an ordered plan of actions.

No I/O, no clock, no AWS: every input is a plain value, so the rules below are tested
by tables (tests/test_plan.py). The rules:

- a target is in sync when its resolved desired version equals its live version and
  serves all of its traffic (a weighted alias is not in sync: ``Observed.partial``);
  a change still rolling out toward the desired version is waited on, not re-issued;
- direction comes from the driver when it knows (Alembic walks the revision graph),
  else from ranks: a newer desired version is a roll-forward;
- an action is blocked (reported, not applied) when the pin is suspended, the target
  is in observe mode, the pin names a version its ``deny:`` list names, preflight refused
  the pin, or a step drops a table or column without ``allowDestructive``; it is *held*
  when the refusal is AWS's own verdict on the version (a rollout ECS undid or that
  failed), even when that version is live: a failed rollout is not in sync;
- order: on a roll-forward the database upgrades before the services; on a roll-back
  the services go first and the database downgrades last; ``after:`` in config
  overrides both. Ties keep config order. An action whose predecessor is blocked is
  blocked in turn (``daemon.core.ordering``, the one rule the appliers follow too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from daemon.core.model import Action, Direction, Kind, Observed, Pin, Plan, Resolved
from daemon.core.ordering import blocked_in_turn

OBSERVE_MODE = "observe"


@dataclass(frozen=True)
class Intent:
    """One configured target as the planner needs it: what is pinned and how to treat it."""

    target: str
    kind: Kind
    pin: Pin | None
    mode: str = "auto"
    after: tuple[str, ...] | None = None
    frozen: str | None = None  # the freeze window in force now, as a sentence
    # Who denied each denied version and why, from the audit trail (``deny:`` entry -> words).
    denials: Mapping[str, str] = field(default_factory=dict)


def make_plan(
    intents: Sequence[Intent],
    observed: Mapping[str, Observed],
    resolved: Mapping[str, Resolved],
) -> Plan:
    """Build the ordered plan. Pure: the same inputs always give the same plan."""
    actions: dict[str, Action] = {}
    in_sync: list[str] = []
    unobserved: dict[str, str] = {}
    for intent in intents:
        seen = observed.get(intent.target)
        if seen is None or seen.error is not None:
            unobserved[intent.target] = (seen.error if seen else None) or "not observed"
            continue
        if intent.pin is None or intent.pin.version is None:
            continue
        action = _action(intent, seen, resolved.get(intent.target))
        if action is None:
            in_sync.append(intent.target)
        else:
            actions[intent.target] = action
    ordered = blocked_in_turn(_order(intents, actions))
    return Plan(actions=tuple(ordered), in_sync=tuple(in_sync), unobserved=unobserved)


def _action(intent: Intent, seen: Observed, found: Resolved | None) -> Action | None:
    pin = intent.pin
    assert pin is not None and pin.version is not None
    desired = found.desired if found is not None else pin.version
    if found is not None and found.refused is None and desired == seen.live:
        if seen.partial is not None:  # e.g. a weighted alias: the same version, made whole
            return Action(
                target=intent.target,
                kind=intent.kind,
                from_version=seen.live,
                to_version=desired,
                direction=Direction.NONE,
                blocked=_policy_block(intent, desired, destructive=()),
                notes=(seen.partial,),
                reason=pin.reason,
            )
        if seen.in_progress is None:
            return None
        return Action(
            target=intent.target,
            kind=intent.kind,
            from_version=seen.live,
            to_version=desired,
            direction=Direction.NONE,
            wait_only=True,
            blocked=_policy_block(intent, desired, destructive=()),
            notes=(seen.in_progress,),
            reason=pin.reason,
        )
    direction = _direction(seen, found)
    destructive = found.destructive if found is not None else ()
    blocked = _policy_block(intent, desired, destructive)
    held = False
    if blocked is None and found is not None and found.refused is not None:
        blocked, held = found.refused, found.held
    if found is None and blocked is None:
        blocked = "the pin was not checked against what exists (preflight did not run)"
    notes: tuple[str, ...] = (f"in progress: {seen.in_progress}",) if seen.in_progress else ()
    notes += found.notes if found is not None else ()
    override = _override_note(intent)
    frozen = blocked is not None and intent.frozen is not None and blocked.startswith(intent.frozen)
    return Action(
        target=intent.target,
        kind=intent.kind,
        from_version=seen.live,
        to_version=desired,
        direction=direction,
        destructive=bool(destructive),
        blocked=blocked,
        steps=found.steps if found is not None else (),
        notes=notes + tuple(destructive) + override,
        reason=f"{pin.reason} [override of {intent.frozen}]" if override else pin.reason,
        frozen=frozen,
        held=held,
    )


def _policy_block(intent: Intent, desired: str, destructive: Sequence[str]) -> str | None:
    pin = intent.pin
    assert pin is not None
    if pin.suspend:
        return "suspended: the pin has suspend: true"
    if intent.mode == OBSERVE_MODE:
        return "observe mode: drift is reported, not applied"
    denied = pin.denies(desired, intent.kind)
    if denied is not None:
        who = intent.denials.get(denied) or "in the pin file's deny: list; no audit record says who"
        return f"{desired} is denied for {intent.target} ({who}); pin another version"
    if intent.frozen and not (pin.override and pin.reason):
        return f"{intent.frozen}; applies wait (a pin with override: true and a reason may pass)"
    if destructive and not pin.allow_destructive:
        return f"{destructive[0]}; set allowDestructive: true on this pin to allow it"
    return None


def _override_note(intent: Intent) -> tuple[str, ...]:
    pin = intent.pin
    if intent.frozen and pin is not None and pin.override and pin.reason:
        return (f"passes the {intent.frozen} by override: {pin.reason}",)
    return ()


def _direction(seen: Observed, found: Resolved | None) -> Direction:
    if found is not None and found.direction is not None:
        return found.direction
    if seen.live is None:
        return Direction.FORWARD
    if found is None or found.rank is None or seen.rank is None:
        return Direction.NONE  # not knowable from what the driver saw; said, not guessed
    if found.rank > seen.rank:
        return Direction.FORWARD
    if found.rank < seen.rank:
        return Direction.BACK
    return Direction.NONE


def _order(intents: Sequence[Intent], actions: Mapping[str, Action]) -> list[Action]:
    """Topological order of the actions, config order breaking ties."""
    position = {intent.target: index for index, intent in enumerate(intents)}
    explicit = {i.target: i.after for i in intents if i.after is not None}
    predecessors: dict[str, set[str]] = {name: set() for name in actions}
    for name in actions:
        for other in explicit.get(name) or ():
            if other in actions:
                predecessors[name].add(other)
    databases = [a for a in actions.values() if a.kind == Kind.ALEMBIC]
    services = [a for a in actions.values() if a.kind != Kind.ALEMBIC]
    for database in databases:
        for service in services:
            mine, theirs = explicit.get(database.target), explicit.get(service.target)
            if not around_the_database(mine, theirs, database.direction):
                continue
            # An explicit ``after:`` the other way wins: the two must never wait on each other.
            forward, back = (
                database.direction is Direction.FORWARD,
                database.direction is Direction.BACK,
            )
            if forward and service.target not in (mine or ()):
                predecessors[service.target].add(database.target)
            elif back and database.target not in (theirs or ()):
                predecessors[database.target].add(service.target)
    ordered: list[Action] = []
    done: set[str] = set()
    remaining = set(actions)
    while remaining:
        ready = [n for n in remaining if predecessors[n] <= done]
        if not ready:  # a cycle; config validation refuses explicit ones, so keep config order
            ready = list(remaining)
        name = min(ready, key=lambda n: position.get(n, len(position)))
        action = actions[name]
        after = tuple(sorted(predecessors[name], key=lambda n: position.get(n, 0)))
        ordered.append(_with_after(action, after))
        done.add(name)
        remaining.discard(name)
    return ordered


def around_the_database(
    database_after: Sequence[str] | None,
    service_after: Sequence[str] | None,
    direction: Direction | None,
) -> bool:
    """Whether the planner orders a service and a database by itself (the one rule, also
    used to keep them in one shard): on the way forward the service waits for the upgrade
    unless it has its own ``after:``; on the way back the downgrade waits for the service
    unless the database has its own. ``direction`` None: in either direction."""
    forward, back = service_after is None, database_after is None
    if direction is Direction.FORWARD:
        return forward
    if direction is Direction.BACK:
        return back
    return forward or back


def _with_after(action: Action, after: tuple[str, ...]) -> Action:
    return replace(action, after=after)
