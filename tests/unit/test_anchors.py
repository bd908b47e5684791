"""The audit anchors' verdict (daemon.core.anchors): tables of values, no bucket, no trail."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from daemon.core.anchors import Anchor, judge, parse_key

T0 = dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.UTC)
HASH = {seq: f"{seq:064x}" for seq in range(0, 200)}
OTHER = "f" * 64


def at(minutes: int, seq: int, hash_: str | None = None) -> Anchor:
    return Anchor(seq, hash_ or HASH[seq], T0 + dt.timedelta(minutes=minutes))


def test_a_key_carries_the_anchor_and_sorts_by_time() -> None:
    """The listing alone checks a trail: seq and hash come back from the key, in time order."""
    early, late = at(0, 7), at(5, 42)
    keys = [late.key("pinback/anchors/"), early.key("pinback/anchors/")]
    assert sorted(keys) == keys[::-1]
    assert [parse_key("pinback/anchors/", k) for k in sorted(keys)] == [early, late]
    assert parse_key("pinback/anchors/", "pinback/anchors/notes.txt") is None
    assert parse_key("pinback/anchors/", "elsewhere/" + early.key("")) is None


def test_every_anchor_in_the_trail_agrees() -> None:
    verdict = judge([at(0, 10), at(5, 50), at(10, 90)], 120, HASH)
    assert verdict.problem is None and verdict.checked == 3 and verdict.newest == at(10, 90)


def test_no_anchor_no_problem_and_no_newest() -> None:
    assert judge([], 0, {}).problem is None and judge([], 0, {}).newest is None


def test_an_anchor_of_an_empty_trail_vouches_for_nothing() -> None:
    assert judge([at(0, 0, "0" * 64)], 0, {}).problem is None


def test_a_trail_cut_below_an_anchor_is_cut_short() -> None:
    """The newest records deleted: what is left is a sound chain, but an anchor covers more."""
    verdict = judge([at(0, 10), at(5, 50), at(10, 90)], 60, HASH)
    assert verdict.problem == (
        "cut short: the anchor of 2026-12-01T11:10:00Z covers record 90, the trail ends at 60; "
        "records up to 50 agree with the anchor of 2026-12-01T11:05:00Z"
    )


def test_a_rewritten_trail_names_the_earliest_anchor_that_disagrees() -> None:
    """Rewritten from record 30 on with every hash recomputed: anchors of 50 and 90 disagree;
    the answer names 50, and says records up to 10 still agree."""
    rewritten = {**HASH, 50: OTHER, 90: OTHER}
    verdict = judge([at(10, 90), at(0, 10), at(5, 50)], 120, rewritten)
    assert verdict.problem is not None
    assert verdict.problem.startswith(
        "rewritten: record 50 differs from the anchor of 2026-12-01T11:05:00Z "
        f"(anchored {HASH[50][:12]}, the trail has {OTHER[:12]})"
    )
    assert verdict.problem.endswith(
        "records up to 10 agree with the anchor of 2026-12-01T11:00:00Z"
    )


@pytest.mark.parametrize("last_seq", [0, 9])
def test_the_first_anchor_failing_says_no_record_agrees(last_seq: int) -> None:
    verdict = judge([at(0, 10)], last_seq, HASH)
    assert verdict.problem is not None and "agree" not in verdict.problem


def test_a_missing_record_under_an_anchor_is_a_rewrite() -> None:
    """The anchored seq exists no more but later ones do (renumbered): not the same trail."""
    verdict = judge([at(0, 10)], 50, {s: h for s, h in HASH.items() if s != 10})
    assert verdict.problem is not None and "the trail has nothing" in verdict.problem


def test_keys_are_in_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica in Seoul and one in UTC must write keys that sort together."""
    moment = dt.datetime(2026, 12, 1, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    monkeypatch.setenv("TZ", "Asia/Seoul")
    time.tzset()
    try:
        key = Anchor(5, HASH[5], moment).key("")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert key.startswith("20261201T110000.000000Z-000000000005-")


def test_an_anchor_of_the_trails_last_record_agrees() -> None:
    """Anchored at the head, nothing appended since: the trail ends exactly at the anchor."""
    assert judge([at(0, 50)], 50, HASH).problem is None


def test_a_failure_still_counts_every_anchor_and_names_the_newest() -> None:
    verdict = judge([at(0, 10), at(5, 50)], 20, HASH)
    assert (verdict.checked, verdict.newest) == (2, at(5, 50))


def test_with_no_agreeing_record_the_sentence_ends_at_the_problem() -> None:
    """An anchor of the empty trail agrees but vouches for no record: not named."""
    verdict = judge([at(0, 0, "0" * 64), at(5, 10)], 5, HASH)
    assert verdict.problem == (
        "cut short: the anchor of 2026-12-01T11:05:00Z covers record 10, the trail ends at 5"
    )


def test_the_agreeing_anchor_named_is_the_latest_of_the_same_record() -> None:
    """A quiet trail is anchored at the same record again and again: the answer names the
    latest of those anchors, the last moment the trail was seen whole; record 1 counts."""
    verdict = judge([at(0, 1), at(5, 1), at(10, 50)], 20, HASH)
    assert verdict.problem is not None
    assert verdict.problem.endswith("records up to 1 agree with the anchor of 2026-12-01T11:05:00Z")
