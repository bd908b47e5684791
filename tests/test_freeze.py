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
