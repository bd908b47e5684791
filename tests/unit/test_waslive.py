"""What a target ran, from its audit records, put back into a listing that forgot it
(``daemon.core.waslive``): where it goes, and what is left alone."""

from __future__ import annotations

from daemon.core.model import Kind, VersionInfo
from daemon.core.records import Event, Record
from daemon.core.waslive import WasLive, was_live, with_was_live


def applied(*moves: tuple[str, str, str]) -> list[Record]:
    """``apply_succeeded`` records from ``(before, after, minute)``."""
    return [
        Record(
            event=Event.APPLY_SUCCEEDED,
            target="t",
            desired=after,
            live_before=before,
            live_after=after,
            seq=seq,
            ts=f"2026-11-{minute}T04:00:00.000000Z",
        )
        for seq, (before, after, minute) in enumerate(moves, start=1)
    ]


def listed(*versions: tuple[str, str | None], live: str = "") -> list[VersionInfo]:
    return [VersionInfo(v, t, live=v == live) for v, t in versions]


def names(found: list[VersionInfo]) -> list[tuple[str, bool | None]]:
    return [(v.version, v.ready) for v in found]


def test_each_version_keeps_the_first_and_last_time_it_was_live() -> None:
    found = was_live(applied(("3", "4", "10"), ("4", "3", "12"), ("3", "4", "14")))
    assert found["3"] == WasLive("3", "2026-11-10T04:00:00.000000Z", "2026-11-14T04:00:00.000000Z")
    assert found["4"].first == "2026-11-10T04:00:00.000000Z"


def test_a_digest_is_not_a_version_a_pin_can_name() -> None:
    """A Lambda function running an image no tag names is observed as its digest."""
    assert set(was_live(applied(("sha256:0123456789ab", "v2", "10")))) == {"v2"}


def test_a_deregistered_revision_goes_back_by_its_number() -> None:
    """Revision 3 ran before 4; someone deregistered it: the step back from 4 is 3, not 2."""
    history = was_live(applied(("3", "4", "10")))
    merged = with_was_live(Kind.ECS, listed(("4", None), ("2", None), live="4"), history, "4", True)
    assert names(merged) == [("4", None), ("3", False), ("2", None)]
    assert merged[1].why == (
        "no longer an ACTIVE revision (the audit trail last shows it live at "
        "2026-11-10T04:00:00.000000Z)"
    )
    assert merged[1].detail == {"lastLive": "2026-11-10T04:00:00.000000Z"}
    assert merged[1].live is False and merged[1].time is None


def test_several_gone_each_go_where_they_belong() -> None:
    """3 and 1 were deregistered; the listing was cut at 2, so 1 (older than its end) is
    left out and 3 still goes back in."""
    history = was_live(applied(("1", "3", "08"), ("3", "4", "10")))
    before = listed(("4", None), ("2", None), live="4")
    merged = with_was_live(Kind.ECS, before, history, "4", False)
    assert names(merged) == [("4", None), ("3", False), ("2", None)]
    complete = with_was_live(Kind.ECS, before, history, "4", True)
    assert names(complete) == [("4", None), ("3", False), ("2", None), ("1", False)]


def test_the_live_version_is_never_put_back() -> None:
    """The live revision itself deregistered (ECS keeps running it) is not a step back."""
    history = was_live(applied(("3", "4", "10")))
    before = listed(("3", None))
    assert names(with_was_live(Kind.ECS, before, history, "4", True)) == [("3", None)]


def test_a_name_that_is_no_revision_number_is_left_out() -> None:
    history = was_live(applied(("unknown", "4", "10")))
    before = listed(("4", None), ("3", None), live="4")
    assert names(with_was_live(Kind.ECS, before, history, "4", True)) == [("4", None), ("3", None)]


def test_a_time_that_cannot_be_read_does_not_place_a_tag() -> None:
    history = {"v1": WasLive("v1", "yesterday", "yesterday")}
    before = listed(("v2", "2026-11-09T00:00:00+00:00"), live="v2")
    assert names(with_was_live(Kind.LAMBDA, before, history, "v2", True)) == [("v2", None)]


def test_a_listed_or_live_version_is_not_added_twice() -> None:
    history = was_live(applied(("3", "4", "10"), ("4", "3", "11"), ("3", "4", "12")))
    before = listed(("4", None), ("3", None), live="4")
    assert names(with_was_live(Kind.ECS, before, history, "4", True)) == [("4", None), ("3", None)]


def test_an_expired_tag_goes_where_it_first_went_live() -> None:
    """v4 first went live on the 7th, so it was pushed by then: after v5 (pushed on the
    9th), before v3 (pushed on the 1st); the build pushed on the 8th and never released
    stays above it."""
    history = was_live(applied(("v3", "v4", "07"), ("v4", "v5", "10")))
    before = listed(
        ("v5", "2026-11-09T00:00:00+00:00"),
        ("v4-rc", "2026-11-08T00:00:00+00:00"),
        ("v3", "2026-11-01T00:00:00+00:00"),
        live="v5",
    )
    merged = with_was_live(Kind.LAMBDA, before, history, "v5", True)
    assert names(merged) == [("v5", None), ("v4-rc", None), ("v4", False), ("v3", None)]
    assert merged[2].why == (
        "its tag is no longer in ECR (the audit trail last shows it live at "
        "2026-11-10T04:00:00.000000Z)"
    )


def test_what_belongs_past_a_cut_listing_is_left_out() -> None:
    """A listing cut at its limit does not show what is older than its last entry: neither
    is a version put back there (a complete listing ends with it)."""
    history = was_live(applied(("1", "4", "10")))
    before = listed(("4", None), ("3", None), live="4")
    assert names(with_was_live(Kind.ECS, before, history, "4", False)) == [("4", None), ("3", None)]
    assert names(with_was_live(Kind.ECS, before, history, "4", True))[-1] == ("1", False)


def test_other_kinds_are_left_as_listed() -> None:
    """The frontend's listing keeps its deploy history; a database's is its migration chain."""
    history = was_live(applied(("aaaaaaa", "bbbbbbb", "10")))
    before = listed(("bbbbbbb", None), live="bbbbbbb")
    assert with_was_live(Kind.FRONTEND, before, history, "bbbbbbb", True) == before
    assert with_was_live(Kind.ALEMBIC, before, history, "bbbbbbb", True) == before


def test_in_a_tie_to_the_second_the_listed_tag_is_newer() -> None:
    """ECR keeps push times to the second, and the trail's first-live time is only the latest
    the expired tag can have been pushed: pushed in the same second, the listed one is first."""
    history = was_live(applied(("v3", "v4", "07")))
    before = listed(("v4", "2026-11-09T00:00:00+00:00"), ("v3b", "2026-11-07T04:00:00+00:00"))
    merged = with_was_live(Kind.LAMBDA, before, history, "v4", True)
    assert names(merged) == [("v4", None), ("v3b", None), ("v3", False)]


def test_tags_gone_between_the_same_two_go_newest_first() -> None:
    """v3 and v4 both expired, both released after v2's push and before v5's."""
    history = was_live(applied(("v2", "v3", "05"), ("v3", "v4", "07"), ("v4", "v5", "10")))
    before = listed(
        ("v5", "2026-11-09T00:00:00+00:00"), ("v2", "2026-11-01T00:00:00+00:00"), live="v5"
    )
    merged = with_was_live(Kind.LAMBDA, before, history, "v5", True)
    assert names(merged) == [("v5", None), ("v4", False), ("v3", False), ("v2", None)]
