"""The planner, by tables of plain values: no AWS, no database, no fakes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from daemon.core.model import Action, Direction, Kind, Observed, Pin, Resolved
from daemon.core.plan import Intent, make_plan

KINDS = {"frontend": Kind.FRONTEND, "backend": Kind.ECS, "worker": Kind.LAMBDA, "db": Kind.ALEMBIC}


def world(
    live: dict[str, tuple[str, float | None]],
    desired: dict[str, tuple[str, float | None]],
    *,
    db_direction: Direction | None = None,
    pins: dict[str, Pin] | None = None,
    after: dict[str, tuple[str, ...]] | None = None,
    mode: dict[str, str] | None = None,
    refused: dict[str, str] | None = None,
    destructive: dict[str, tuple[str, ...]] | None = None,
    in_progress: dict[str, str] | None = None,
) -> tuple[list[Intent], dict[str, Observed], dict[str, Resolved]]:
    intents, observed, resolved = [], {}, {}
    for name, kind in KINDS.items():
        if name not in live:
            continue
        pin = (pins or {}).get(name) or (Pin(desired[name][0]) if name in desired else None)
        intents.append(
            Intent(name, kind, pin, (mode or {}).get(name, "auto"), (after or {}).get(name))
        )
        observed[name] = Observed(
            name, kind, live[name][0], live[name][1], in_progress=(in_progress or {}).get(name)
        )
        if name in desired:
            resolved[name] = Resolved(
                name,
                desired[name][0],
                desired[name][1],
                direction=db_direction if kind == Kind.ALEMBIC else None,
                refused=(refused or {}).get(name),
                destructive=(destructive or {}).get(name, ()),
            )
    return intents, observed, resolved


def order(plan: object) -> list[str]:
    return [a.target for a in plan.actions]  # type: ignore[attr-defined]


ALL_LIVE = {
    "frontend": ("c4", 4.0),
    "backend": ("4", 4.0),
    "worker": ("v4", 4.0),
    "db": ("r4", 4.0),
}


def test_everything_at_its_pin_is_no_change() -> None:
    """When every resolved pin equals live, the plan is empty and lists all as in sync."""
    plan = make_plan(*world(ALL_LIVE, dict(ALL_LIVE)))
    assert plan.changes == 0
    assert plan.in_sync == ("frontend", "backend", "worker", "db")


@pytest.mark.parametrize(
    ("desired", "db_direction", "expected"),
    [
        # roll-back: services first, the database downgrade last
        ({"backend": ("3", 3.0), "db": ("r3", 3.0)}, Direction.BACK, ["backend", "db"]),
        # roll-forward: the database upgrade first, then the services
        ({"backend": ("5", 5.0), "db": ("r5", 5.0)}, Direction.FORWARD, ["db", "backend"]),
        # all four back: the three services in config order, then the database
        (
            {
                "frontend": ("c3", 3.0),
                "backend": ("3", 3.0),
                "worker": ("v3", 3.0),
                "db": ("r3", 3.0),
            },
            Direction.BACK,
            ["frontend", "backend", "worker", "db"],
        ),
        # all four forward: the database first
        (
            {
                "frontend": ("c5", 5.0),
                "backend": ("5", 5.0),
                "worker": ("v5", 5.0),
                "db": ("r5", 5.0),
            },
            Direction.FORWARD,
            ["db", "frontend", "backend", "worker"],
        ),
    ],
)
def test_direction_decides_order_between_schema_and_code(
    desired: dict[str, tuple[str, float]], db_direction: Direction, expected: list[str]
) -> None:
    """Upgrades go before the code that needs them; downgrades after the code that used them."""
    live = dict(ALL_LIVE)
    want = {**{k: v for k, v in live.items()}, **desired}
    plan = make_plan(*world(live, want, db_direction=db_direction))
    assert order(plan) == expected
    db = next(a for a in plan.actions if a.target == "db")
    if db_direction is Direction.BACK:
        assert set(db.after) == set(expected[:-1])
    else:
        assert db.after == ()


@pytest.mark.parametrize(
    ("live_rank", "desired_rank", "direction"),
    [
        (4.0, 3.0, Direction.BACK),
        (3.0, 4.0, Direction.FORWARD),
        (4.0, 4.0, Direction.NONE),
        (None, 4.0, Direction.NONE),
    ],
)
def test_direction_from_ranks(
    live_rank: float | None, desired_rank: float, direction: Direction
) -> None:
    """Without a driver's verdict, a lower rank is a roll-back and an unknown one says none."""
    plan = make_plan(*world({"backend": ("4", live_rank)}, {"backend": ("3", desired_rank)}))
    assert plan.actions[0].direction is direction


def test_nothing_deployed_is_a_roll_forward() -> None:
    """A target with no live version (an empty bucket) is rolled forward."""
    plan = make_plan(*world({"frontend": (None, None)}, {"frontend": ("c1", 1.0)}))  # type: ignore[dict-item]
    assert plan.actions[0].direction is Direction.FORWARD


def test_explicit_after_overrides_the_default_order() -> None:
    """``after:`` in config wins over the direction rule."""
    live = dict(ALL_LIVE)
    desired = {**live, "backend": ("3", 3.0), "db": ("r3", 3.0)}
    plan = make_plan(
        *world(live, desired, db_direction=Direction.BACK, after={"backend": ("db",), "db": ()})
    )
    assert order(plan) == ["db", "backend"]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"pins": {"backend": Pin("3", suspend=True)}}, "suspended"),
        ({"mode": {"backend": "observe"}}, "observe mode"),
        (
            {"refused": {"backend": "task definition leh-backend:3 does not exist"}},
            "does not exist",
        ),
    ],
)
def test_blocked_actions_say_why(kwargs: dict[str, object], reason: str) -> None:
    """Suspend, observe mode and a refused pin still show the drift, blocked with the reason."""
    plan = make_plan(*world({"backend": ("4", 4.0)}, {"backend": ("3", 3.0)}, **kwargs))  # type: ignore[arg-type]
    assert plan.changes == 1
    assert plan.actions[0].blocked is not None and reason in plan.actions[0].blocked


def test_destructive_step_blocked_without_permission() -> None:
    """A step that drops a table is blocked unless the pin allows destruction."""
    drops = {"db": ("downgrade of r4 drops table jobs",)}
    blocked = make_plan(
        *world(
            {"db": ("r4", 4.0)}, {"db": ("r3", 3.0)}, db_direction=Direction.BACK, destructive=drops
        )
    )
    assert blocked.actions[0].destructive
    assert "drops table jobs" in (blocked.actions[0].blocked or "")
    allowed = make_plan(
        *world(
            {"db": ("r4", 4.0)},
            {"db": ("r3", 3.0)},
            db_direction=Direction.BACK,
            destructive=drops,
            pins={"db": Pin("r3", allow_destructive=True)},
        )
    )
    assert allowed.actions[0].destructive and allowed.actions[0].blocked is None


def test_rollout_toward_the_pin_is_waited_on_not_reissued() -> None:
    """Live already at the pin but still rolling out: a wait-only action, not a new update."""
    plan = make_plan(
        *world(
            {"backend": ("3", 3.0)},
            {"backend": ("3", 3.0)},
            in_progress={"backend": "IN_PROGRESS, running 1/2"},
        )
    )
    assert plan.actions[0].wait_only
    assert plan.actions[0].direction is Direction.NONE


def test_unobserved_target_is_reported_not_planned() -> None:
    """A target whose live state could not be read gets no action and is listed with the error."""
    intents, observed, resolved = world({"backend": ("4", 4.0)}, {"backend": ("3", 3.0)})
    observed["backend"] = Observed("backend", Kind.ECS, None, error="throttled")
    plan = make_plan(intents, observed, resolved)
    assert plan.changes == 0 and plan.unobserved == {"backend": "throttled"}


def test_unpinned_target_is_observed_only() -> None:
    """A configured target absent from the pin file is neither planned nor reported in sync."""
    plan = make_plan(
        *world({"backend": ("4", 4.0), "worker": ("v4", 4.0)}, {"backend": ("4", 4.0)})
    )
    assert plan.changes == 0 and plan.in_sync == ("backend",)


def test_json_form_has_the_contract_fields() -> None:
    """``plan -o json`` actions carry target, kind, from, to, direction, destructive, and blocked when set."""
    plan = make_plan(
        *world({"backend": ("4", 4.0)}, {"backend": ("3", 3.0)}, mode={"backend": "observe"})
    )
    document = plan.as_json()
    assert document["changes"] == 1
    action = document["actions"][0]  # type: ignore[index]
    assert {"target", "kind", "from", "to", "direction", "destructive", "blocked"} <= set(action)
    assert action["from"] == "4" and action["to"] == "3" and action["direction"] == "back"


def test_same_inputs_same_plan() -> None:
    """The planner is a pure function: the order in which observations and checked pins
    arrive (threads finish in any order) changes nothing, and it changes none of them."""
    intents, observed, resolved = world(
        ALL_LIVE,
        {**ALL_LIVE, "backend": ("3", 3.0), "db": ("r3", 3.0)},
        db_direction=Direction.BACK,
    )
    plan = make_plan(intents, observed, resolved)
    assert [a.target for a in plan.actions] == ["backend", "db"] and plan.changes == 2
    kept = (list(intents), dict(observed), dict(resolved))
    shuffled = make_plan(
        intents, dict(reversed(observed.items())), dict(reversed(resolved.items()))
    )
    assert shuffled == plan
    assert (intents, observed, resolved) == kept


def test_a_freeze_block_is_marked_frozen_and_other_blocks_are_not() -> None:
    """The phase Frozen comes from the planner's mark, never from the sentence's words."""
    from daemon.core.model import Kind, Observed, Pin, Resolved
    from daemon.core.plan import Intent, make_plan

    seen = {"backend": Observed("backend", Kind.ECS, "4", 4.0)}
    found = {"backend": Resolved("backend", "3", 3.0)}
    frozen = Intent("backend", Kind.ECS, Pin("3"), frozen="freeze window until tomorrow")
    (action,) = make_plan([frozen], seen, found).actions
    assert action.frozen and action.blocked is not None
    suspended = Intent("backend", Kind.ECS, Pin("3", suspend=True), frozen="freeze window")
    (action,) = make_plan([suspended], seen, found).actions
    assert not action.frozen and action.blocked is not None
    refused = {"backend": Resolved("backend", "3", 3.0, refused="the freeze of a tag")}
    (action,) = make_plan([Intent("backend", Kind.ECS, Pin("3"))], seen, refused).actions
    assert not action.frozen


@pytest.mark.parametrize(
    ("order", "live", "pinned", "expected"),
    [
        (["a", "b", "c"], "c", "a", "back"),
        (["a", "b", "c"], "a", "c", "forward"),  # rolled back to a earlier; c again
        (["a", "b", "c"], "c", "d", "forward"),  # never live: a new build
        (["a", "b"], "x", "a", None),  # the history does not show live: not known here
        ([], "c", "a", None),  # bucket not versioned
    ],
)
def test_frontend_direction_by_first_deploy(
    order: list[str], live: str, pinned: str, expected: str | None
) -> None:
    from daemon.drivers.deploy_history import by_history

    found = by_history(order, live, pinned)
    assert (found.value if found else None) == expected


def one(intents: list[Intent], observed: dict[str, Observed], resolved: dict[str, Resolved]):  # type: ignore[no-untyped-def]
    plan = make_plan(intents, observed, resolved)
    assert len(plan.actions) == 1, plan
    return plan.actions[0]


def test_a_wait_only_action_carries_everything_a_reader_needs() -> None:
    pin = Pin("3", reason="INC-231")
    found = world(
        {"backend": ("3", 3.0)},
        {"backend": ("3", 3.0)},
        pins={"backend": pin},
        in_progress={"backend": "IN_PROGRESS, running 1/2"},
    )
    assert one(*found) == Action(
        target="backend",
        kind=Kind.ECS,
        from_version="3",
        to_version="3",
        direction=Direction.NONE,
        wait_only=True,
        notes=("IN_PROGRESS, running 1/2",),
        reason="INC-231",
    )
    suspended = world(
        {"backend": ("3", 3.0)},
        {"backend": ("3", 3.0)},
        pins={"backend": Pin("3", suspend=True)},
        in_progress={"backend": "IN_PROGRESS"},
    )
    assert one(*suspended).blocked == "suspended: the pin has suspend: true"


def test_a_change_carries_its_steps_notes_and_reason() -> None:
    intents, observed, resolved = world(
        {"db": ("r4", 4.0)},
        {"db": ("r2", 2.0)},
        db_direction=Direction.BACK,
        pins={"db": Pin("r2", allow_destructive=True, reason="INC-9")},
        destructive={"db": ("r3 drops table carts",)},
        in_progress={"db": "a migration by hand"},
    )
    resolved["db"] = replace(resolved["db"], steps=("r3", "r2"))
    assert one(intents, observed, resolved) == Action(
        target="db",
        kind=Kind.ALEMBIC,
        from_version="r4",
        to_version="r2",
        direction=Direction.BACK,
        destructive=True,
        steps=("r3", "r2"),
        notes=("in progress: a migration by hand", "r3 drops table carts"),
        reason="INC-9",
    )


def test_a_pin_never_checked_is_blocked_and_keeps_its_own_version() -> None:
    intents, observed, _ = world({"backend": ("4", None)}, {"backend": ("3", None)})
    action = one(intents, observed, {})
    assert action.to_version == "3" and action.direction is Direction.NONE
    assert action.blocked == "the pin was not checked against what exists (preflight did not run)"


def test_a_refusal_blocks_unless_a_policy_already_does() -> None:
    refused = world({"backend": ("4", 4.0)}, {"backend": ("9", None)}, refused={"backend": "no 9"})
    assert one(*refused).blocked == "no 9"
    both = world(
        {"backend": ("4", 4.0)},
        {"backend": ("9", None)},
        refused={"backend": "no 9"},
        mode={"backend": "observe"},
    )
    assert one(*both).blocked == "observe mode: drift is reported, not applied"


def test_an_unknown_rank_on_either_side_gives_no_direction() -> None:
    assert (
        one(*world({"backend": ("4", 4.0)}, {"backend": ("x", None)})).direction is Direction.NONE
    )
    assert (
        one(*world({"backend": ("4", None)}, {"backend": ("3", 3.0)})).direction is Direction.NONE
    )


@pytest.mark.parametrize(
    ("frozen", "pin", "note", "reason"),
    [
        (
            "freeze window until X",
            Pin("3", override=True, reason="INC"),
            True,
            "INC [override of freeze window until X]",
        ),
        ("freeze window until X", Pin("3", override=True), False, None),
        ("freeze window until X", Pin("3", reason="INC"), False, "INC"),
        (None, Pin("3", override=True, reason="INC"), False, "INC"),
    ],
)
def test_an_override_is_noted_only_when_it_passes_a_freeze(
    frozen: str | None, pin: Pin, note: bool, reason: str | None
) -> None:
    intents, observed, resolved = world(
        {"backend": ("4", 4.0)}, {"backend": ("3", 3.0)}, pins={"backend": pin}
    )
    intents = [replace(intents[0], frozen=frozen)]
    action = one(intents, observed, resolved)
    assert action.reason == reason
    expected = (f"passes the {frozen} by override: INC",) if note else ()
    assert action.notes == expected
    assert (action.blocked is None) is (note or frozen is None)


def test_a_target_not_read_or_not_pinned_does_not_stop_the_ones_after_it() -> None:
    intents, observed, resolved = world(
        {"frontend": ("c4", 4.0), "backend": ("4", 4.0), "worker": ("v4", 4.0)},
        {"backend": ("3", 3.0), "worker": ("v3", 3.0)},
    )
    del observed["backend"]
    plan = make_plan(intents, observed, resolved)
    assert order(plan) == ["worker"] and plan.unobserved == {"backend": "not observed"}


def test_after_reorders_against_the_config_order_and_is_named() -> None:
    """frontend comes first in the config but waits for backend; a database rolled back
    lists the services it waits for in config order."""
    plan = make_plan(
        *world(
            ALL_LIVE,
            {
                "frontend": ("c3", 3.0),
                "backend": ("3", 3.0),
                "worker": ("v3", 3.0),
                "db": ("r3", 3.0),
            },
            db_direction=Direction.BACK,
            after={"frontend": ("backend",)},
        )
    )
    assert order(plan) == ["backend", "frontend", "worker", "db"]
    afters = {a.target: a.after for a in plan.actions}
    assert afters["frontend"] == ("backend",)
    assert afters["db"] == ("frontend", "backend", "worker")


def test_an_explicit_after_breaks_an_implicit_cycle() -> None:
    """A database rolled forward goes before unordered services, but here it says it comes
    after backend: its explicit ``after:`` wins, so the two never wait on each other (they
    did: each listed the other, and an apply of both waited for ever)."""
    plan = make_plan(
        *world(
            {"backend": ("4", 4.0), "db": ("r4", 4.0)},
            {"backend": ("5", 5.0), "db": ("r5", 5.0)},
            db_direction=Direction.FORWARD,
            after={"db": ("backend",)},
        )
    )
    assert order(plan) == ["backend", "db"]
    assert [a.after for a in plan.actions] == [(), ("backend",)]


def test_the_action_goes_to_the_checked_version_not_the_pins_spelling() -> None:
    """A short commit pinned, the full one found: the change names the full one."""
    intents, observed, resolved = world({"frontend": ("c4" * 20, 4.0)}, {"frontend": ("c3a", 3.0)})
    resolved["frontend"] = replace(resolved["frontend"], desired="c3a" + "0" * 37)
    assert one(intents, observed, resolved).to_version == "c3a" + "0" * 37


def test_a_database_waits_for_many_services_named_in_config_order() -> None:
    """Eight services, config order not alphabetical: `after` lists them in config order."""
    names = ["web", "api", "queue", "cron", "mail", "auth", "search", "billing"]
    intents = [Intent(n, Kind.ECS, Pin("3")) for n in names] + [
        Intent("db", Kind.ALEMBIC, Pin("r3"))
    ]
    observed = {n: Observed(n, Kind.ECS, "4", 4.0) for n in names}
    observed["db"] = Observed("db", Kind.ALEMBIC, "r4", 4.0)
    resolved = {n: Resolved(n, "3", 3.0) for n in names}
    resolved["db"] = Resolved("db", "r3", 3.0, direction=Direction.BACK)
    plan = make_plan(intents, observed, resolved)
    assert order(plan) == [*names, "db"]
    assert plan.actions[-1].after == tuple(names)


def test_on_the_way_forward_a_service_with_its_own_after_is_not_ordered_behind_the_upgrade() -> (
    None
):
    """The planner orders a service behind a database upgrade unless the service has its own
    ``after:`` (then it is the service's list that counts); the services after it in the
    config are still ordered behind the upgrade."""
    live = dict(ALL_LIVE)
    desired = {**live, "frontend": ("c5", 5.0), "backend": ("5", 5.0), "db": ("r5", 5.0)}
    plan = make_plan(*world(live, desired, db_direction=Direction.FORWARD, after={"frontend": ()}))
    by_target = {a.target: a for a in plan.actions}
    assert by_target["frontend"].after == ()
    assert by_target["backend"].after == ("db",)


def test_what_preflight_noted_reaches_the_plan() -> None:
    """A driver's note (a source of truth it could not read) is in the action's notes."""
    intents, observed, resolved = world({"frontend": ("c4", 4.0)}, {"frontend": ("c3", 3.0)})
    resolved["frontend"] = replace(resolved["frontend"], notes=("history unreadable",))
    (action,) = make_plan(intents, observed, resolved).actions
    assert "history unreadable" in action.notes


def test_a_denied_version_is_blocked_with_who_denied_it() -> None:
    """``deny:`` blocks the pin that names a denied version, with the audit trail's words."""
    intents, observed, resolved = world(
        {"backend": ("4", 4.0), "worker": ("v4", 4.0)},
        {"backend": ("3", 3.0), "worker": ("v3", 3.0)},
        pins={"backend": Pin("3", denied=("3",)), "worker": Pin("v3", denied=("v2",))},
    )
    intents[0] = replace(intents[0], denials={"3": "denied by ana at 04:00: INC-9"})
    plan = make_plan(intents, observed, resolved)
    backend, worker = plan.actions
    assert (
        backend.blocked
        == "3 is denied for backend (denied by ana at 04:00: INC-9); pin another version"
    )
    assert worker.blocked is None
    prefixed = make_plan(
        *world(
            {"frontend": ("c4", 4.0)},
            {"frontend": ("9f1c2ab4e6d0", 3.0)},
            pins={"frontend": Pin("9f1c2ab", denied=("9f1c2ab",))},
        )
    )
    assert (prefixed.actions[0].blocked or "").startswith("9f1c2ab4e6d0 is denied for frontend")
    unrecorded = make_plan(
        *world(
            {"backend": ("4", 4.0)},
            {"backend": ("3", 3.0)},
            pins={"backend": Pin("3", denied=("3",))},
        )
    )
    assert unrecorded.actions[0].blocked == (
        "3 is denied for backend (in the pin file's deny: list; no audit record says who); "
        "pin another version"
    )


@pytest.mark.parametrize(
    ("kind", "version", "denied", "blocked"),
    [
        (Kind.ECS, "41", "4", False),  # a revision is a number, not a prefix
        (Kind.ECS, "4", "4", True),
        (Kind.LAMBDA, "v1.8.2", "v1.8", False),
        (Kind.FRONTEND, "9f1c2ab4e6d0", "9f1c2ab", True),  # a commit written shorter
        (Kind.FRONTEND, "9f1c2ab", "9f1c2ab4e6d0", True),
        (Kind.FRONTEND, "9f1c2ac", "9f1c2ab", False),
    ],
)
def test_what_a_deny_entry_names(kind: Kind, version: str, denied: str, blocked: bool) -> None:
    assert (Pin(version, denied=(denied,)).denies(version, kind) is not None) is blocked


def test_denying_another_version_is_not_a_new_pin() -> None:
    """A hold on a pin is lifted by a new pin; adding to ``deny:`` is not one."""
    assert Pin("3", denied=("2",)) == Pin("3")
