"""The gate's verdict on alarms and the revert target, as tables of values (no servers)."""

from __future__ import annotations

import pytest

from daemon.core.gates import AlarmWatch, revert_to
from daemon.core.records import Record


@pytest.mark.parametrize(
    ("before", "looks", "fails_at", "end_fails"),
    [
        ({"a": "OK"}, [{"a": "OK"}, {"a": "OK"}], None, False),
        ({"a": "INSUFFICIENT_DATA"}, [{"a": "OK"}], None, False),
        ({"a": "OK"}, [{"a": "OK"}, {"a": "ALARM"}], 1, False),
        ({"a": "ALARM"}, [{"a": "ALARM"}, {"a": "OK"}], None, False),  # the change fixed it
        ({"a": "ALARM"}, [{"a": "ALARM"}, {"a": "ALARM"}], None, True),  # never came back
        ({"a": "ALARM"}, [{"a": "INSUFFICIENT_DATA"}], None, True),  # not back to OK
        ({"a": "ALARM"}, [{"a": "OK"}, {"a": "ALARM"}], 1, False),  # came back, fired again
        ({"a": "ALARM", "b": "OK"}, [{"a": "ALARM", "b": "ALARM"}], 0, False),
        ({}, [{"a": "ALARM"}], 0, False),  # unknown before: taken as OK
    ],
)
def test_alarm_watch(
    before: dict[str, str], looks: list[dict[str, str]], fails_at: int | None, end_fails: bool
) -> None:
    """Each alarm is judged against its state before the change (DESIGN section 9)."""
    watch = AlarmWatch(before, 60)
    verdicts = [watch.look(states) for states in looks]
    first = next((i for i, v in enumerate(verdicts) if v is not None), None)
    assert first == fails_at
    if fails_at is None:
        assert (watch.end() is not None) is end_fails


def test_alarm_note_names_before_and_after() -> None:
    watch = AlarmWatch({"a": "ALARM", "b": "OK"}, 60)
    watch.look({"a": "OK", "b": "OK"})
    assert watch.note() == "a: ALARM -> OK, b: OK -> OK"
    assert watch.end() is None


def test_end_sentence_names_the_bake_time() -> None:
    watch = AlarmWatch({"a": "ALARM"}, 90)
    watch.look({"a": "ALARM"})
    assert watch.end() == (
        "CloudWatch alarm(s) in ALARM: a, already in ALARM before the change and not back "
        "to OK within the bake time of 90s (a: ALARM -> ALARM)"
    )


def rec(event: str, desired: str) -> Record:
    return Record(event=event, target="backend", desired=desired)


@pytest.mark.parametrize(
    ("history", "failing", "expected"),
    [
        ([], "5", None),
        ([rec("apply_succeeded", "4")], "5", "4"),
        ([rec("apply_succeeded", "5")], "5", None),  # the failing one is never the way back
        # newest first: 4 failed its gate after it had passed, so 3 is the last good one
        (
            [rec("health_failed", "4"), rec("apply_succeeded", "4"), rec("apply_succeeded", "3")],
            "5",
            "3",
        ),
        # 4 failed once, then passed again later: good again
        ([rec("apply_succeeded", "4"), rec("health_failed", "4")], "5", "4"),
        ([rec("health_failed", "2"), rec("apply_succeeded", "2")], "5", None),
    ],
)
def test_revert_to(history: list[Record], failing: str, expected: str | None) -> None:
    """The last version applied with its gates passed, skipping every version that failed since."""
    assert revert_to(history, failing) == expected


def test_sentences_name_every_alarm_and_mark_unknown_states() -> None:
    """Two alarms firing are both named; an alarm with no state before (or not read since)
    shows `?`, so a reader can tell 'unknown' from a state."""
    watch = AlarmWatch({"a": "OK", "c": "ALARM"}, 60)
    assert watch.look({"a": "ALARM", "b": "ALARM"}) == (
        "CloudWatch alarm(s) in ALARM: a, b (a: OK -> ALARM, b: ? -> ALARM, c: ALARM -> ?)"
    )
    both = AlarmWatch({"a": "ALARM", "b": "ALARM"}, 30)
    both.look({"a": "ALARM", "b": "ALARM"})
    assert both.end() == (
        "CloudWatch alarm(s) in ALARM: a, b, already in ALARM before the change and not back "
        "to OK within the bake time of 30s (a: ALARM -> ALARM, b: ALARM -> ALARM)"
    )


def test_revert_skips_records_without_a_version() -> None:
    """A record with no desired version (an apply that never resolved one) is passed over,
    not the end of the search."""
    history = [Record(event="apply_succeeded", target="backend"), rec("apply_succeeded", "3")]
    assert revert_to(history, "5") == "3"
