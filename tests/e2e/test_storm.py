"""A fault storm: throttling, then 5xx bursts, then slow answers, then dropped connections.
The controller stays up and healthy throughout, retries show in the metrics, memory stays
flat, and every target reaches its pin once the storm ends."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.stands.daemon_process import Daemon
from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, config_copy
from tests.stands.waiting import eventually

# A minute of throttling, then 15 s of each other fault (PINBACK_STORM_SECONDS scales all);
# after each, the faults stop and the time until every target is at its pin is measured.
SCALE = float(os.environ.get("PINBACK_STORM_SECONDS", "15")) / 15


# (name, seconds at scale 1, the fault, the pins written as it starts: revision, tag, commit)
PHASES = [
    (
        "throttling",
        60.0,
        {"match": "", "fault": "throttle", "count": -1, "probability": 0.5},
        (2, TAGS[1], COMMITS[1]),
    ),
    (
        "5xx",
        15.0,
        {"match": "", "fault": "error500", "count": -1, "probability": 0.3},
        (3, TAGS[2], COMMITS[2]),
    ),
    (
        "latency",
        15.0,
        {"match": "", "fault": "latency", "count": -1, "delay": 2.0},
        (1, TAGS[0], COMMITS[0]),
    ),
    (
        "reset",
        15.0,
        {"match": "", "fault": "reset", "count": -1, "probability": 0.3},
        (3, TAGS[1], COMMITS[2]),
    ),
]


def at_pins(daemon: Daemon, pins: dict[str, str]) -> bool:
    """The controller has loaded these pins and reports every target at them."""
    return all(
        daemon.metric("pinback_target_info", target=t, desired=v) == 1
        and daemon.metric("pinback_target_drift", target=t) == 0
        for t, v in pins.items()
    )


def report(figures: list[dict[str, object]], rss_before: float, rss_after: float) -> None:
    """Print the figures (``make chaos`` shows them) and keep them where asked."""
    document = {"phases": figures, "rss_mib": [round(rss_before), round(rss_after)]}
    print(json.dumps(document))
    if path := os.environ.get("PINBACK_STORM_REPORT"):
        Path(path).write_text(json.dumps(document, indent=2) + "\n")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


CONVERGE_S = 330  # after a storm, the backoff cap (5 minutes) plus a margin


# pytest's own limit covers every wait this test may make: the storms and four convergences.
@pytest.mark.timeout(int(sum(p[1] for p in PHASES) * SCALE + len(PHASES) * CONVERGE_S + 120))
def test_storm(service: Service, aws: Aws, tmp_path: Path) -> None:
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    daemon = Daemon.on(config, service.current_pins())
    unhealthy: list[object] = []  # a status other than 200, or why /healthz did not answer
    looks = [0]
    stop = threading.Event()

    phase: dict[str, object] = {}  # the pins of the running phase, when written, when reached

    def watch_health() -> None:
        """Every failure to get a 200 is kept, a timeout included: a watcher that died
        silently would leave `unhealthy` empty and pass."""
        while not stop.wait(0.5):
            try:
                status = daemon.get("/healthz")[0]
                pins = phase.get("pins")
                if pins and phase.get("reached") is None and at_pins(daemon, pins):  # type: ignore[arg-type]
                    phase["reached"] = time.monotonic() - float(phase["written"])  # type: ignore[arg-type]
            except Exception as exc:
                unhealthy.append(f"{exc.__class__.__name__}: {exc}")
                continue
            looks[0] += 1
            if status != 200:
                unhealthy.append(status)

    figures: list[dict[str, object]] = []
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        rss_before = rss_mib(daemon.process.pid)
        watcher = threading.Thread(target=watch_health, daemon=True)
        watcher.start()
        for name, seconds, rule, (revision, tag, commit) in PHASES:
            aws.proxy.clear()
            aws.proxy.add(**rule)
            pins = {"frontend": commit[:7], "backend": str(revision), "ai-worker": tag}
            phase.update(pins=None, reached=None)
            service.pins(
                frontend=commit[:7], backend=revision, ai_worker=tag, database=REVISIONS[-1]
            )
            phase.update(pins=pins, written=time.monotonic())
            stop.wait(seconds * SCALE)  # the storm lasts; /healthz is watched meanwhile
            calls = aws.proxy.seen("")
            aws.proxy.clear()
            calmed = time.monotonic()
            eventually(
                lambda pins=pins: at_pins(daemon, pins),  # type: ignore[misc]
                timeout=CONVERGE_S,
                what=f"every target at its pin after the {name} storm",
            )
            after = time.monotonic() - calmed
            reached = phase["reached"]
            figures.append(
                {
                    "storm": name,
                    "seconds": round(seconds * SCALE),
                    "aws_calls_during": calls,
                    # at the pins this long after they were written (during the storm or not)
                    "pins_reached_after_s": round(
                        float(reached) if reached is not None else seconds * SCALE + after,
                        1,  # type: ignore[arg-type]
                    ),
                    "converged_after_storm_s": round(after, 1),
                }
            )
        rss_after = rss_mib(daemon.process.pid)
        throttled = sum(
            daemon.metric(
                "pinback_aws_api_calls_total", service=s, operation=o, outcome="ThrottlingException"
            )
            or 0
            for s, o in (
                ("ecs", "DescribeServices"),
                ("ecr", "DescribeImages"),
                ("ecs", "UpdateService"),
            )
        )
    finally:
        stop.set()
        daemon.stop(signal.SIGTERM)
    report(figures, rss_before, rss_after)
    assert unhealthy == []
    storm_s = sum(p[1] for p in PHASES) * SCALE
    assert looks[0] >= storm_s  # two looks a second were due: at least half were made
    assert throttled > 0
    assert rss_after - rss_before < 50, f"memory grew from {rss_before:.0f} to {rss_after:.0f} MiB"
