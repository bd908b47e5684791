"""The one ordering rule (daemon.core.ordering), by tables of plain values."""

from __future__ import annotations

import pytest

from daemon.core.model import Action, Direction, Kind, Observed, Outcome, Pin, Resolved
from daemon.core.ordering import Decision, Step, blocked_in_turn, decide
from daemon.core.plan import Intent, make_plan


def action(
    target: str, after: tuple[str, ...] = (), blocked: str | None = None, wait_only: bool = False
) -> Action:
    kind = Kind.ALEMBIC if target == "db" else Kind.ECS
    return Action(
        target, kind, "1", "2", Direction.FORWARD, blocked=blocked, after=after, wait_only=wait_only
    )


BACKEND = action("backend", after=("db",))
DB = action("db")


@pytest.mark.parametrize(
    ("planned", "settled", "running", "expected"),
    [
        # the predecessor is at its pin: go
        ({}, {}, (), Decision(Step.GO)),
        ({"db": DB}, {"db": Outcome.APPLIED}, (), Decision(Step.GO)),
        # still to apply, or applying: wait
        ({"db": DB}, {}, (), Decision(Step.WAIT, ("db",))),
        ({}, {}, ("db",), Decision(Step.WAIT, ("db",))),
        ({"db": action("db", wait_only=True)}, {}, (), Decision(Step.WAIT, ("db",))),
        # its apply ended without taking: blocked
        (
            {"db": DB},
            {"db": Outcome.FAILED},
            (),
            Decision(Step.BLOCK, ("db",), "waits on db, which did not apply"),
        ),
        (
            {"db": DB},
            {"db": Outcome.BLOCKED},
            (),
            Decision(Step.BLOCK, ("db",), "waits on db, which did not apply"),
        ),
        # its own action is blocked: blocked in turn, saying why
        (
            {"db": action("db", blocked="suspended: the pin has suspend: true")},
            {},
            (),
            Decision(
                Step.BLOCK,
                ("db",),
                "waits on db, which is blocked: suspended: the pin has suspend: true",
            ),
        ),
    ],
)
def test_decide(
    planned: dict[str, Action],
    settled: dict[str, Outcome],
    running: tuple[str, ...],
    expected: Decision,
) -> None:
    assert decide(BACKEND, planned, settled, running) == expected


def test_an_action_blocked_itself_says_its_own_reason() -> None:
    assert decide(action("db", blocked="frozen"), {}, {}) == Decision(Step.BLOCK, (), "frozen")


def test_blocked_in_turn_follows_the_chain() -> None:
    """db blocked -> backend (after db) blocked -> worker (after backend) blocked; others go."""
    chain = [
        action("db", blocked="denied"),
        BACKEND,
        action("worker", after=("backend",)),
        action("frontend"),
    ]
    result = {a.target: a.blocked for a in blocked_in_turn(chain)}
    assert result == {
        "db": "denied",
        "backend": "waits on db, which is blocked: denied",
        "worker": "waits on backend, which is blocked: waits on db, which is blocked: denied",
        "frontend": None,
    }


def test_the_planner_blocks_a_roll_forward_onto_a_schema_that_cannot_move() -> None:
    """On the way forward the service waits for the upgrade; a suspended upgrade blocks it."""
    intents = [
        Intent("backend", Kind.ECS, Pin("5")),
        Intent("db", Kind.ALEMBIC, Pin("r5", suspend=True)),
    ]
    observed = {
        "backend": Observed("backend", Kind.ECS, "4", 4.0),
        "db": Observed("db", Kind.ALEMBIC, "r4", 4.0),
    }
    resolved = {
        "backend": Resolved("backend", "5", 5.0),
        "db": Resolved("db", "r5", 5.0, direction=Direction.FORWARD),
    }
    plan = make_plan(intents, observed, resolved)
    by_target = {a.target: a for a in plan.actions}
    assert by_target["backend"].after == ("db",)
    assert (
        by_target["backend"].blocked
        == "waits on db, which is blocked: suspended: the pin has suspend: true"
    )


def test_an_explicit_after_the_other_way_wins_over_the_direction_rule() -> None:
    """On the way back the downgrade would wait for the service; the service's own
    ``after: [db]`` says the opposite: the explicit order wins and nothing waits on itself."""
    intents = [
        Intent("backend", Kind.ECS, Pin("3"), after=("db",)),
        Intent("db", Kind.ALEMBIC, Pin("r3")),
    ]
    observed = {
        "backend": Observed("backend", Kind.ECS, "4", 4.0),
        "db": Observed("db", Kind.ALEMBIC, "r4", 4.0),
    }
    resolved = {
        "backend": Resolved("backend", "3", 3.0),
        "db": Resolved("db", "r3", 3.0, direction=Direction.BACK),
    }
    plan = make_plan(intents, observed, resolved)
    assert [(a.target, a.after) for a in plan.actions] == [("db", ()), ("backend", ("db",))]
