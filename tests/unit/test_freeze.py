"""Freeze windows: applies wait inside them, drift is still reported, an override with a reason passes."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.core.freeze import CRON_FORM, Window, active, parse_cron
from daemon.core.model import Kind, Observed, Pin, Resolved
from daemon.core.plan import Intent, make_plan
from daemon.errors import SpecError
from daemon.spec import load_config
from tests.stands.service import config_copy

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "frozen"),
    [
        ("2026-11-27 17:59", False),  # Friday, before the weekend freeze
        ("2026-11-27 18:00", True),  # Friday 18:00 UTC: it starts
        ("2026-11-29 12:00", True),  # Sunday
        ("2026-11-30 09:59", True),  # Monday, 63h59m in
        ("2026-11-30 10:00", False),  # 64h after: over
    ],
)
def test_weekend_freeze_from_cron(moment: str, frozen: bool) -> None:
    """``0 18 * * FRI`` for 64h covers Friday evening to Monday 10:00 UTC."""
    window = Window(cron=parse_cron("0 18 * * FRI"), cron_text="0 18 * * FRI", duration_s=64 * 3600)
    assert (active([window], at(moment)) is not None) is frozen


def test_absolute_window() -> None:
    window = Window(start=at("2026-12-24 00:00"), end=at("2026-12-26 00:00"))
    assert (
        active([window], at("2026-12-25 12:00")) == "freeze window until 2026-12-26T00:00:00+00:00"
    )
    assert active([window], at("2026-12-26 00:00")) is None


@pytest.mark.parametrize("text", ["0 18 * FRI", "61 * * * *", "0 18 * * FUNDAY", "5-1 * * * *"])
def test_bad_cron_is_a_positioned_config_error(tmp_path: Path, text: str) -> None:
    path = config_copy(tmp_path, append=f'freeze:\n  - {{cron: "{text}", duration: 1h}}\n')
    with pytest.raises(SpecError) as caught:
        load_config(path)
    assert "pinback.yaml:" in str(caught.value) and "cron" in str(caught.value)


def intent(
    pin: Pin, frozen: str | None
) -> tuple[list[Intent], dict[str, Observed], dict[str, Resolved]]:
    return (
        [Intent("backend", Kind.ECS, pin, frozen=frozen)],
        {"backend": Observed("backend", Kind.ECS, "4", 4.0)},
        {"backend": Resolved("backend", "3", 3.0)},
    )


def test_planner_blocks_inside_a_freeze_and_an_override_passes() -> None:
    """Frozen: blocked with the window; override with a reason: passes, and says so."""
    frozen = "freeze window until 2026-12-26T00:00:00+00:00"
    (blocked,) = make_plan(*intent(Pin("3"), frozen)).actions
    assert blocked.blocked is not None and blocked.blocked.startswith(frozen)
    (no_reason,) = make_plan(*intent(Pin("3", override=True), frozen)).actions
    assert no_reason.blocked is not None
    (passed,) = make_plan(*intent(Pin("3", override=True, reason="INC-231"), frozen)).actions
    assert passed.blocked is None
    assert passed.reason == f"INC-231 [override of {frozen}]"


@pytest.mark.parametrize(
    ("moment", "frozen"),
    [
        ("2026-11-13 18:00", True),  # Friday the 13th: both fields match
        ("2026-11-20 18:00", True),  # a Friday that is not the 13th: day-of-week matches
        ("2026-10-13 18:00", True),  # a Tuesday the 13th: day-of-month matches
        ("2026-11-19 18:00", False),  # Thursday the 19th: neither
    ],
)
def test_day_fields_combine_with_or_when_both_are_restricted(moment: str, frozen: bool) -> None:
    """``0 18 13 * FRI`` is every 13th and every Friday, as cron reads it (man 5 crontab)."""
    window = Window(cron=parse_cron("0 18 13 * FRI"), cron_text="0 18 13 * FRI", duration_s=60)
    assert (active([window], at(moment)) is not None) is frozen


def test_a_star_day_field_leaves_the_other_one_alone() -> None:
    """``0 18 */2 * FRI``: a starred day-of-month keeps cron's AND, so only Fridays count."""
    window = Window(cron=parse_cron("0 18 */2 * FRI"), cron_text="x", duration_s=60)
    assert active([window], at("2026-11-27 18:00")) is not None  # Friday the 27th
    assert active([window], at("2026-11-25 18:00")) is None  # Wednesday the 25th


def test_a_window_reads_its_cron_on_its_own_time_zone(tmp_path: Path) -> None:
    """Friday 18:00 in Seoul is 09:00 UTC; the sentence names the zone and local end."""
    path = config_copy(
        tmp_path,
        append='freeze:\n  - {cron: "0 18 * * FRI", duration: 2h, timezone: Asia/Seoul}\n',
    )
    (window,) = [w.window() for w in load_config(path).model.freeze]
    assert active([window], at("2026-11-27 08:59")) is None
    sentence = active([window], at("2026-11-27 09:00"))
    assert sentence == 'freeze window "0 18 * * FRI" Asia/Seoul until 2026-11-27T20:00:00+09:00'
    assert active([window], at("2026-11-27 18:00")) is None  # 18:00 UTC is 03:00 Saturday there


def test_daylight_saving_keeps_a_local_window_on_local_time() -> None:
    """``0 9 * * MON`` in New York is 13:00 UTC in summer and 14:00 UTC in winter."""

    window = Window(
        cron=parse_cron("0 9 * * MON"),
        cron_text="x",
        duration_s=600,
        zone=ZoneInfo("America/New_York"),
    )
    assert active([window], at("2026-07-06 13:05")) is not None
    assert active([window], at("2026-11-30 13:05")) is None
    assert active([window], at("2026-11-30 14:05")) is not None


def test_an_unknown_time_zone_is_a_positioned_config_error(tmp_path: Path) -> None:
    path = config_copy(
        tmp_path,
        append='freeze:\n  - {cron: "0 18 * * FRI", duration: 1h, timezone: Mars/Olympus}\n',
    )
    with pytest.raises(SpecError) as caught:
        load_config(path)
    assert "pinback.yaml:" in str(caught.value) and "Mars/Olympus" in str(caught.value)
    assert "IANA" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("0 18 * * FRI", ({0}, {18}, set(range(1, 32)), set(range(1, 13)), {5})),
        ("*/15 9-17/4 1,15 JAN-MAR 7", ({0, 15, 30, 45}, {9, 13, 17}, {1, 15}, {1, 2, 3}, {0})),
        ("59 23 31 12 0-7", ({59}, {23}, {31}, {12}, set(range(7)))),
        ("0 0 * * SAT,SUN", ({0}, {0}, set(range(1, 32)), set(range(1, 13)), {0, 6})),
        ("5-7/2 0 * * mon", ({5, 7}, {0}, set(range(1, 32)), set(range(1, 13)), {1})),
    ],
)
def test_cron_fields_read_as_cron_reads_them(text: str, fields: tuple[set[int], ...]) -> None:
    """Lists, ranges, steps, names in any case, and 7 as another Sunday."""
    cron = parse_cron(text)
    assert (cron.minute, cron.hour, cron.dom, cron.month, cron.dow) == fields


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 18 * FRI", f"expected {CRON_FORM}, got '0 18 * FRI'"),
        ("0 18 * * * *", f"expected {CRON_FORM}, got '0 18 * * * *'"),
        ("60 * * * *", f"cron minute '60' is not in 0-59 in '60 * * * *'; expected {CRON_FORM}"),
        ("0 24 * * *", f"cron hour '24' is not in 0-23 in '0 24 * * *'; expected {CRON_FORM}"),
        ("0 0 0 * *", f"cron dom '0' is not in 1-31 in '0 0 0 * *'; expected {CRON_FORM}"),
        ("0 0 * * 8", f"cron dow '8' is not in 0-7 in '0 0 * * 8'; expected {CRON_FORM}"),
        (
            "0 0 * * FUNDAY",
            f"cron dow 'FUNDAY' is not in 0-7 in '0 0 * * FUNDAY'; expected {CRON_FORM}",
        ),
        ("*/0 * * * *", f"cron minute '0' is not in 1-59 in '*/0 * * * *'; expected {CRON_FORM}"),
        ("5-1 * * * *", "cron minute range 5-1 runs backwards in '5-1 * * * *'"),
        ("1-x * * * *", f"cron minute 'X' is not in 0-59 in '1-x * * * *'; expected {CRON_FORM}"),
        ("x-1 * * * *", f"cron minute 'X' is not in 0-59 in 'x-1 * * * *'; expected {CRON_FORM}"),
        (
            "1-2-3 * * * *",
            f"cron minute '2-3' is not in 0-59 in '1-2-3 * * * *'; expected {CRON_FORM}",
        ),
        (
            "1/2/3 * * * *",
            f"cron minute '2/3' is not in 1-59 in '1/2/3 * * * *'; expected {CRON_FORM}",
        ),
        ("1,x * * * *", f"cron minute 'X' is not in 0-59 in '1,x * * * *'; expected {CRON_FORM}"),
    ],
)
def test_a_bad_cron_says_which_field_and_the_form(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_cron(text)
    assert str(caught.value) == message


def test_day_fields_combine_only_when_both_are_restricted() -> None:
    assert parse_cron("0 0 13 * FRI").days_either is True
    assert parse_cron("0 0 * * FRI").days_either is False
    assert parse_cron("0 0 13 * *").days_either is False
    assert parse_cron("0 0 */2 * FRI").days_either is False  # a step of * is still *


def test_saturday_is_six_and_sunday_zero() -> None:
    """Python counts Monday 0; cron counts Sunday 0 (2026-11-28 is a Saturday)."""
    saturday = dt.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_cron("0 12 * * 6").matches(saturday)
    assert not parse_cron("0 12 * * 0").matches(saturday)
    assert parse_cron("0 12 * * 0").matches(saturday + dt.timedelta(days=1))


def test_an_absolute_window_starts_on_its_first_instant_and_needs_both_ends() -> None:
    start, end = at("2026-12-24 00:00"), at("2026-12-26 00:00")
    assert active([Window(start=start, end=end)], start) is not None
    assert active([Window(start=start)], at("2026-12-25 00:00")) is None
    assert active([Window(end=end)], at("2026-12-25 00:00")) is None


def test_a_window_in_utc_names_no_zone_and_seconds_do_not_matter() -> None:
    window = Window(cron=parse_cron("0 18 * * *"), cron_text="0 18 * * *", duration_s=60)
    assert active([window], at("2026-11-30 18:00")) == (
        'freeze window "0 18 * * *" until 2026-11-30T18:01:00+00:00'
    )
    late = dt.datetime(2026, 11, 30, 18, 0, 59, 999_999, tzinfo=UTC)
    assert active([window], late) == active([window], at("2026-11-30 18:00"))
    seoul = dt.datetime(2026, 12, 1, 3, 0, 30, tzinfo=ZoneInfo("Asia/Seoul"))  # 18:00:30 UTC
    assert active([window], seoul) is not None


def test_a_window_without_a_zone_reads_utc_whatever_the_hosts_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A container whose TZ is Asia/Seoul still reads a zone-less window on UTC."""
    monkeypatch.setenv("TZ", "Asia/Seoul")
    time.tzset()
    try:
        window = Window(cron=parse_cron("0 18 * * *"), cron_text="0 18 * * *", duration_s=3600)
        assert active([window], at("2026-11-30 18:30")) is not None
        assert active([window], at("2026-11-30 09:30")) is None  # 18:30 in Seoul
    finally:
        monkeypatch.undo()
        time.tzset()
