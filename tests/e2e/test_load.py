"""Load: the pin file rewritten 100 times a second for 10 seconds. The last write wins, and
pinback applies about as often as the pin stood still, not once per write."""

from __future__ import annotations

import itertools
import json
import random
import signal
import threading
import time
from pathlib import Path

from tests.stands.daemon_process import Daemon
from tests.stands.service import Aws, Service, config_copy
from tests.stands.waiting import eventually

WRITES_PER_S = 100
SECONDS = 10
SETTLE = 0.02  # a pin that stood this long may be acted on (daemon.controller.pins.SETTLE)


def revision(aws: Aws) -> str:
    services = aws.client("ecs").describe_services(cluster="leh-cluster", services=["leh-backend"])  # type: ignore[attr-defined]
    return str(services["services"][0]["taskDefinition"]).rsplit(":", 1)[-1]


def test_write_storm_ends_at_the_last_write_without_thrash(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    pins = service.current_pins()
    daemon = Daemon.on(config, pins)
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        aws.proxy.clear()
        rng = random.Random(7)
        stamps: list[float] = []
        last = 4
        start = time.monotonic()
        ticker = threading.Event()
        writes = WRITES_PER_S * SECONDS
        for index in range(writes):
            # The storm ends away from where it started (4), so its end takes a real apply.
            last = rng.choice([1, 2, 3, 4] if index < writes - 1 else [1, 2, 3])
            text = pins.read_text()
            pins.write_text(_with_revision(text, last))
            stamps.append(time.monotonic())
            ticker.wait(
                max(0.0, start + (index + 1) / WRITES_PER_S - time.monotonic())
            )  # pace the writes
        eventually(lambda: revision(aws) == str(last), timeout=30, what="the last write applied")
        eventually(
            lambda: daemon.metric("pinback_target_drift", target="backend") == 0,
            timeout=30,
            what="drift settled",
        )
    finally:
        daemon.stop(signal.SIGTERM)
    stood_still = sum(1 for a, b in itertools.pairwise(stamps) if b - a >= SETTLE)
    bound = stood_still + 2  # plus the last state, and one apply that may straddle its start
    updates = aws.proxy.seen("UpdateService")
    print(  # ``make chaos`` shows it
        json.dumps(
            {"writes": len(stamps), "stood_still": stood_still, "applies": updates, "bound": bound}
        )
    )
    assert 1 <= updates <= bound, f"{updates} applies for {len(stamps)} writes (bound {bound})"
    assert len(daemon.events("apply_started")) <= bound


def _with_revision(text: str, value: int) -> str:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("revision:") and lines[index - 1].strip() == "backend:":
            lines[index] = f"    revision: {value}"
    return "\n".join(lines) + "\n"


def test_sigterm_during_a_2000_target_pass_stops_cleanly_every_time(
    aws: Aws, tmp_path: Path
) -> None:
    """A controller of 2,000 targets (100 of them drifted, so workers are applying) gets
    SIGTERM at three points: during its first pass, once applies have started, and in a
    later resync. Each time it logs shutdown_started, exits 0 within its grace and leaves
    no thread running (a bench run once saw it keep passing for 60 s after SIGTERM)."""
    from tests.bench import fleet

    config_text, state_text = fleet.seed(aws.moto)
    config = tmp_path / "fleet.yaml"
    config.write_text(
        config_text.replace(
            "aws: {region: ap-northeast-2}",
            "aws: {region: ap-northeast-2}\ndaemon: {resyncInterval: 2s, shutdownGrace: 20s}",
        )
    )
    pins = tmp_path / "fleet-pins.yaml"
    pins.write_text(state_text)
    points = {
        "during the first pass": lambda d: d.event("desired_loaded"),  # observing 2,000
        "while applying": lambda d: d.event("apply_started"),
        "in a later resync": lambda d: len(d.events("pass_finished")) >= 2,
    }
    for point, reached in points.items():
        daemon = Daemon.on(config, pins)
        try:
            eventually(lambda d=daemon, r=reached: r(d), timeout=180, what=point)  # type: ignore[misc]
        finally:
            code = daemon.stop(signal.SIGTERM, timeout=40)
        assert code == 0, point
        assert daemon.events("shutdown_started") and daemon.events("shutdown_finished"), point
