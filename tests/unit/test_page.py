"""The status page's HTML as values: every field escaped, every state with a text label
(the live page in a browser is tests/e2e/test_page_live.py)."""

from __future__ import annotations

import pytest

from daemon.views import page

MARKUP = "<img src=x onerror='window.pwned=1'><script>window.pwned=2</script>"


def test_markup_in_any_field_is_escaped() -> None:
    row = {
        "target": "x<b>",
        "kind": "ecs",
        "desired": MARKUP,
        "live": "1",
        "inSync": False,
        "state": f"drift, blocked: {MARKUP}",
        "owner": MARKUP,
        "urgency": "high",
    }
    events = [{"ts": "2026-11-27T12:00:00Z", "event": "drift_detected", "reason": MARKUP}]
    html = page.page(
        {"status": {"targets": [row]}, "now": "now", "events": events, "durations": {"x<b>": [1.0]}}
    )
    assert "<img" not in html and "<b>" not in html
    assert html.count("<script>") == 1  # the page's own
    assert "&lt;script&gt;window.pwned=2&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("row", "label"),
    [
        ({"phase": "InSync", "inSync": True, "state": "in sync", "desired": "1"}, "IN SYNC"),
        ({"phase": "InSync", "inSync": True, "state": "observed only"}, "OBSERVED ONLY"),
        ({"phase": "Drifting", "inSync": False, "state": "drift"}, "DRIFTING"),
        (
            {
                "phase": "Frozen",
                "state": "drift, blocked: freeze window until 2026-12-26",
                "blockedReason": "freeze window until 2026-12-26",
            },
            "FROZEN",
        ),
        (
            {
                "phase": "Blocked",
                "state": "drift, blocked: suspended",
                "blockedReason": "suspended",
            },
            "BLOCKED",
        ),
        ({"phase": "Suspended", "state": "drift", "suspended": True}, "SUSPENDED"),
        (
            {"phase": "Applying", "state": "drift", "applying": {"step": "s", "elapsed": "1s"}},
            "APPLYING",
        ),
        (
            {"phase": "Failed", "state": "drift", "lastResult": {"result": "failed", "error": "e"}},
            "FAILED",
        ),
        ({"phase": "Held", "state": "held until the pin changes: x", "heldReason": "x"}, "HELD"),
        (
            {
                "phase": "Held",
                "state": "health failed, held until the pin changes: x",
                "healthFailed": True,
            },
            "HEALTH FAILED",
        ),
        (
            {
                "phase": "RollingOut",
                "state": "rolling out: IN_PROGRESS",
                "inProgress": "IN_PROGRESS",
            },
            "ROLLING OUT",
        ),
        ({"phase": "Unknown", "state": "unknown: x", "error": "x"}, "UNKNOWN"),
        ({"phase": "Unknown", "state": "not observed yet"}, "NOT OBSERVED YET"),
        (
            {
                "phase": "InSync",
                "state": "observed by the replica that leads shard 2",
                "ledElsewhere": True,
            },
            "LED ELSEWHERE",
        ),
    ],
)
def test_every_state_has_a_text_label(row: dict[str, object], label: str) -> None:
    assert page.classify(row)[1] == label


def test_several_environments_are_a_section_each_with_their_own_cards() -> None:
    """One controller for staging and prod: a section per environment in the config's
    order, each card with its environment's durations and versions link, and the timeline
    naming each record's environment."""

    def row(env: str, live: str) -> dict[str, object]:
        return {"environment": env, "target": "backend", "kind": "ecs", "live": live}

    view = {
        "status": {"targets": [row("staging", "3"), row("prod", "4")]},
        "now": "now",
        "events": [
            {"ts": "2026-12-01T08:00:00Z", "event": "apply_succeeded", "environment": "prod"}
        ],
        "durations": {"staging": {"backend": [1.0]}, "prod": {"backend": [2.0, 4.0]}},
        "environments": ["staging", "prod"],
    }
    html = page.live(view)
    staging, prod = html.index('id="environment-staging"'), html.index('id="environment-prod"')
    assert staging < html.index('id="target-staging-backend"') < prod
    assert prod < html.index('id="target-prod-backend"')
    assert 'href="/versions/backend?env=staging"' in html
    assert "last 1 applies of backend" in html and "last 2 applies of backend" in html
    assert '<td data-label="environment">prod</td>' in html
