"""The status page at ``/``, in a real headless Chromium against a running controller."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.stands.browser import Browser, chromium
from tests.stands.daemon_process import Daemon
from tests.stands.service import COMMITS, IN_CI, REPO, REVISIONS, TAGS, Aws, Service, config_copy
from tests.stands.waiting import eventually
from tests.unit.test_page import MARKUP

SCREENSHOTS = Path(os.environ.get("PINBACK_SCREENSHOTS", REPO / ".screenshots"))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    binary = chromium()
    if binary is None:
        if IN_CI:
            pytest.fail("Chromium is required under CI=true (.ci/run installs it)")
        pytest.skip("no Chromium here (Debian package chromium)")
    started = Browser(binary, tmp_path / "profile")
    yield started
    started.close()


def card(browser: Browser, target: str) -> str:
    return str(
        browser.evaluate(
            f"(document.getElementById('target-{target}') || {{innerText: ''}}).innerText"
        )
    )


def test_the_page_follows_the_controller_live(
    service: Service, aws: Aws, tmp_path: Path, browser: Browser
) -> None:
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    pins = service.current_pins()
    daemon = Daemon.on(config, pins)
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        browser.open(daemon.url + "/")
        eventually(
            lambda: "4 of 4 pinned targets at their pins" in browser.text(),
            timeout=20,
            what="every target at its pin on the page",
        )
        assert "4" in card(browser, "backend") and "IN SYNC" in card(browser, "backend")
        assert TAGS[-1] in card(browser, "ai-worker")
        assert REVISIONS[-1] in card(browser, "database")
        assert COMMITS[-1][:7] in card(browser, "frontend")
        browser.evaluate("window.sameDocument = true")

        # A pin edit shows up without a reload, with its reason as text, never as markup.
        service.pins(
            frontend=COMMITS[-1][:7],
            backend={"revision": 3, "reason": MARKUP},
            ai_worker=TAGS[-1],
            database=REVISIONS[-1],
        )
        eventually(
            lambda: (
                "IN SYNC" in card(browser, "backend")
                and "desired\n3" in card(browser, "backend").replace("\t", "\n")
            ),
            timeout=30,
            what="the page showing backend rolled back to 3",
        )
        assert browser.evaluate("window.sameDocument") is True  # updated in place
        assert MARKUP in browser.text()  # the reason, shown as the text it is
        assert browser.evaluate("window.pwned") is None
        assert browser.evaluate("document.querySelectorAll('#live script, #live img').length") == 0

        # A failure shows its message: the deployment fails and ECS stays on revision 3. A
        # rollout that FAILED without ECS rolling it back is held (DESIGN section 13).
        ecs = aws.client("ecs")
        (live,) = ecs.describe_services(cluster="leh-cluster", services=["leh-backend"])["services"]  # type: ignore[attr-defined]
        aws.proxy.add(
            "DescribeServices",
            "rewrite",
            count=-1,
            set={
                "services.*.taskDefinition": live["taskDefinition"],
                "services.*.deployments.*.taskDefinition": live["taskDefinition"],
                "services.*.deployments.*.rolloutState": "FAILED",
                "services.*.deployments.*.rolloutStateReason": "tasks failed to start: OOM",
            },
        )
        service.pins(
            frontend=COMMITS[-1][:7], backend=2, ai_worker=TAGS[-1], database=REVISIONS[-1]
        )

        eventually(
            lambda: (
                "HELD" in card(browser, "backend")
                and "ECS deployment failed: tasks failed to start: OOM" in card(browser, "backend")
            ),
            timeout=30,
            what="the failure and its message on the page",
        )
        browser.screenshot(SCREENSHOTS / "status-desktop.png", 1280, 1000, mobile=False)
        browser.screenshot(SCREENSHOTS / "status-phone.png", 390, 844, mobile=True)
        assert browser.evaluate("window.sameDocument") is True
        assert browser.evaluate("document.documentElement.scrollWidth <= 390") is True
    finally:
        aws.proxy.clear()
        daemon.stop()
    assert (SCREENSHOTS / "status-phone.png").stat().st_size > 10_000


def test_versions_link_serves_the_versions_as_json(service: Service, tmp_path: Path) -> None:
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    daemon = Daemon.on(config, service.current_pins())
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        status, body = daemon.get("/versions/backend")
        missing, _ = daemon.get("/versions/nope")
        html_status, html = daemon.get("/")
    finally:
        daemon.stop()
    assert status == 200 and missing == 404 and html_status == 200
    versions = json.loads(body)["versions"]
    assert [v["version"] for v in versions][:4] == ["4", "3", "2", "1"]
    assert 'href="/versions/backend"' in html
    assert "<script src" not in html and "<link" not in html and "@import" not in html


def test_a_hundred_readers_of_versions_cost_one_listing(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """100 people opening a card's versions during an incident: the controller lists the
    revisions once and serves the rest from that (it was about six AWS calls a reader)."""
    daemon = Daemon.on(config_copy(tmp_path), service.current_pins())
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        before = aws.proxy.seen("ListTaskDefinitions")
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(lambda _: daemon.get("/versions/backend"), range(100)))
        assert all(status == 200 for status, _ in answers)
        versions = json.loads(answers[-1][1])["versions"]
        assert [v["version"] for v in versions] == ["4", "3", "2", "1"]
        assert aws.proxy.seen("ListTaskDefinitions") - before == 1
        assert aws.proxy.seen("DescribeTaskDefinition") <= 4
    finally:
        daemon.stop()
