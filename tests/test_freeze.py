"""Freeze windows: applies wait inside them, drift is still reported, an override with a reason passes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from daemon.errors import SpecError
from daemon.freeze import Window, active, parse_cron
from daemon.model import Kind, Observed, Pin, Resolved
from daemon.plan import Intent, make_plan
from daemon.spec import load_config
from tests.conftest import Aws, Service, config_copy, pinback

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


def test_apply_waits_in_a_freeze_unless_overridden(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """In a freeze `apply` changes nothing; with override and reason it applies and records why."""
    now = dt.datetime.now(UTC)
    window = f'freeze:\n  - {{from: "{(now - dt.timedelta(hours=1)).isoformat()}", to: "{(now + dt.timedelta(hours=1)).isoformat()}"}}\n'
    config = config_copy(tmp_path, append=window)
    done = pinback(
        "apply", "--yes", "--config", str(config), "--state", str(service.pins(backend=3))
    )
    assert done.returncode == 1 and "freeze window until" in done.stdout
    assert aws.proxy.seen("UpdateService") == 0
    pins = service.pins(
        backend={"revision": 3, "override": True, "reason": "INC-231 checkout 500s"}
    )
    done = pinback("apply", "--yes", "--config", str(config), "--state", str(pins))
    assert done.returncode == 0, done.stdout + done.stderr
    records = [
        json.loads(line)
        for line in pinback("audit", "--event", "apply_succeeded", "-o", "json").stdout.splitlines()
    ]
    assert records[-1]["reason"].startswith(
        "INC-231 checkout 500s [override of freeze window until"
    )


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
    from zoneinfo import ZoneInfo

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
