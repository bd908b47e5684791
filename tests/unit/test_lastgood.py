"""The last good moment, from audit records as values (``daemon.core.lastgood``)."""

from __future__ import annotations

from daemon.core.lastgood import GoodMoment, changes_to, last_good
from daemon.core.model import Kind
from daemon.core.records import Event, Record

TARGETS = ("web", "api", "db")
KINDS = {"web": Kind.FRONTEND, "api": Kind.ECS, "db": Kind.ALEMBIC}


def trail(*rows: tuple[str, str, str | None]) -> list[Record]:
    """Records from ``(event, target, version)``: the version is ``desired`` (and
    ``live_after`` of a success)."""
    return [
        Record(
            event=Event(event),
            target=target,
            desired=version,
            live_after=version if event == Event.APPLY_SUCCEEDED else None,
            seq=seq,
            ts=f"2026-12-01T04:{seq:02d}:00Z",
        )
        for seq, (event, target, version) in enumerate(rows, start=1)
    ]


def test_pins_that_matched_live_at_once_are_a_good_moment() -> None:
    """A first load records a pin change per target and nothing more: all were in sync."""
    records = trail(
        ("desired_changed", "web", "aaaaaaa"),
        ("desired_changed", "api", "4"),
        ("desired_changed", "db", "r2"),
    )
    assert last_good(records, TARGETS) == GoodMoment(
        3, "2026-12-01T04:03:00Z", {"web": "aaaaaaa", "api": "4", "db": "r2"}
    )


def test_a_failed_deploy_after_three_changes_goes_back_to_the_last_all_good() -> None:
    records = trail(
        ("desired_changed", "web", "aaaaaaa"),
        ("desired_changed", "api", "4"),
        ("desired_changed", "db", "r2"),
        # change 1: the service back to 3, applied
        ("desired_changed", "api", "3"),
        ("drift_detected", "api", "3"),
        ("apply_started", "api", "3"),
        ("apply_succeeded", "api", "3"),
        # change 2: the frontend forward, applied
        ("desired_changed", "web", "bbbbbbb"),
        ("drift_detected", "web", "bbbbbbb"),
        ("apply_started", "web", "bbbbbbb"),
        ("apply_succeeded", "web", "bbbbbbb"),
        # change 3: the database forward (applied), then the service forward (failed)
        ("desired_changed", "db", "r3"),
        ("desired_changed", "api", "5"),
        ("drift_detected", "db", "r3"),
        ("drift_detected", "api", "5"),
        ("apply_started", "db", "r3"),
        ("apply_succeeded", "db", "r3"),
        ("apply_started", "api", "5"),
        ("apply_failed", "api", "5"),
    )
    moment = last_good(records, TARGETS)
    assert moment is not None
    assert (moment.seq, dict(moment.versions)) == (11, {"web": "bbbbbbb", "api": "3", "db": "r2"})
    pins = {"web": "bbbbbbb", "api": "5", "db": "r3"}
    assert changes_to(moment, pins, KINDS) == {"api": "3", "db": "r2"}


def test_a_change_whose_health_gate_failed_is_not_good() -> None:
    """The gate ends a change in ``health_failed`` (no ``apply_succeeded``): the target is
    failing from its ``apply_started`` on, so the moment before the change is the good one."""
    records = trail(
        ("desired_changed", "web", "aaaaaaa"),
        ("desired_changed", "api", "4"),
        ("desired_changed", "db", "r2"),
        ("desired_changed", "api", "3"),
        ("apply_started", "api", "3"),
        ("health_failed", "api", "3"),
    )
    moment = last_good(records, TARGETS)
    assert moment is not None and moment.seq == 3 and moment.versions["api"] == "4"


def test_a_pin_change_that_drifted_is_not_good_until_applied() -> None:
    """A pin change followed by its drift: not in sync from the change on (not from the drift)."""
    records = trail(
        ("desired_changed", "web", "aaaaaaa"),
        ("desired_changed", "api", "4"),
        ("desired_changed", "db", "r2"),
        ("desired_changed", "web", "ccccccc"),
        ("blocked", "web", "ccccccc"),
    )
    moment = last_good(records, TARGETS)
    assert moment is not None and moment.seq == 3


def test_no_moment_when_one_target_never_stood_good() -> None:
    records = trail(
        ("desired_changed", "web", "aaaaaaa"),
        ("desired_changed", "api", "4"),
        ("desired_changed", "db", "r2"),
        ("drift_detected", "db", "r2"),
        ("apply_started", "db", "r2"),
        ("apply_failed", "db", "r2"),
    )
    assert last_good(records, TARGETS) is None
    assert last_good([], TARGETS) is None
    assert last_good(records, ()) is None


def test_records_of_other_targets_and_events_are_ignored() -> None:
    records = trail(
        ("desired_changed", "web", "aaaaaaa"),
        ("desired_changed", "api", "4"),
        ("desired_changed", "db", "r2"),
        ("apply_failed", "worker", "v1"),  # not one of the targets asked about
        ("leader_lost", "api", None),
    )
    moment = last_good(records, TARGETS)
    assert moment is not None and moment.seq == 3  # good from record 3, untouched since


def test_a_commit_written_shorter_is_the_same_pin() -> None:
    moment = GoodMoment(1, "t", {"web": "aaaaaaa1234", "api": "4", "db": "r2"})
    assert changes_to(moment, {"web": "aaaaaaa", "api": "41", "db": "r2"}, KINDS) == {"api": "4"}


def test_a_one_shot_apply_records_its_plan_for_every_target_it_found_out_of_sync() -> None:
    """``pinback apply`` records no pin changes; its ``plan`` records say which targets were
    out of sync, so a target it never reached (a failure stopped it first) is not good."""
    records = trail(
        ("apply_started", "web", "aaaaaaa"),
        ("apply_succeeded", "web", "aaaaaaa"),
        ("apply_started", "api", "4"),
        ("apply_succeeded", "api", "4"),
        ("apply_started", "db", "r2"),
        ("apply_succeeded", "db", "r2"),
        ("plan", "db", "r3"),
        ("plan", "web", "bbbbbbb"),
        ("apply_started", "db", "r3"),
        ("apply_failed", "db", "r3"),
    )
    moment = last_good(records, TARGETS)
    assert moment is not None and moment.seq == 6


def test_a_version_is_promoted_only_when_it_reached_the_source_and_passed_its_gates() -> None:
    from daemon.core.promotion import unverified

    records = trail(
        ("desired_changed", "api", "4"),  # in sync at once: 4 was live when pinned
        ("desired_changed", "api", "3"),
        ("apply_started", "api", "3"),
        ("health_failed", "api", "3"),
        ("desired_changed", "web", "bbbbbbb"),
        ("apply_started", "web", "bbbbbbb"),
        ("apply_succeeded", "web", "bbbbbbb1234"),
        ("desired_changed", "db", "r3"),
        ("apply_started", "db", "r3"),
        ("apply_failed", "db", "r3"),
        ("apply_failed", "other", "4"),  # another target's verdict says nothing of api's 4
        ("desired_changed", "web", "ccccccc"),
        ("drift_detected", "web", "ccccccc"),  # pinned, never applied
    )
    assert unverified(records, "api", "4", Kind.ECS) is None
    assert unverified(records, "web", "ccccccc", Kind.FRONTEND) == "web ccccccc never reached it"
    assert (unverified(records, "api", "3", Kind.ECS) or "").startswith(
        "api 3 failed its health gate there (2026-12-01T04:04:00Z"
    )
    assert unverified(records, "web", "bbbbbbb", Kind.FRONTEND) is None
    assert (unverified(records, "db", "r3", Kind.ALEMBIC) or "").startswith("db r3 failed to apply")
    assert unverified(records, "db", "r9", Kind.ALEMBIC) == "db r9 never reached it"


def test_a_target_is_good_at_the_version_that_went_live() -> None:
    """An ``apply_succeeded`` names what is live after it (a commit in full, where the pin
    may be shorter); one without that (written by an older pinback) names what it applied."""
    first = trail(
        ("desired_changed", "web", "aaaaaaa"),
        ("desired_changed", "api", "4"),
        ("desired_changed", "db", "r2"),
    )
    web = Record(
        event=Event.APPLY_SUCCEEDED, target="web", desired="bbbbbbb", live_after="bbbbbbb1234"
    )
    api = Record(event=Event.APPLY_SUCCEEDED, target="api", desired="3", live_after=None)
    records = [*first, web, api]
    moment = last_good(records, TARGETS)
    assert moment is not None and dict(moment.versions) == {
        "web": "bbbbbbb1234",
        "api": "3",
        "db": "r2",
    }
