"""During an incident: what a Lambda alias rollback costs, and what readers of the page cost.

- ``alias_rollback``: AWS calls of rolling a Lambda with ``alias: live`` back to a published
  version (goal: one mutating call, ``UpdateAlias``), median of 3 (back and forth).
- ``versions_readers``: 100 people refreshing a card's ``/versions/backend`` every 5 s for
  ``PINBACK_BENCH_READERS_SECONDS`` (60) against a running controller, counted at a proxy
  in front of the AWS emulator less what its passes cost meanwhile (one pass's calls
  measured first); goal: no more AWS calls than one observe per resync.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from daemon.devtools import sandbox
from daemon.engine.engine import Engine
from daemon.spec import load_config, load_desired
from tests.bench.common import REPO, log, own_config, reset_moto
from tests.bench.controller import start
from tests.stands.fault_proxy import FaultProxy, _mutating
from tests.stands.waiting import eventually

READERS = 100
REFRESH = 5.0
ALIASED = {"    repository: leh-ai-worker\n": "    repository: leh-ai-worker\n    alias: live\n"}


def _seeded(endpoint: str, prefix: str) -> tuple[Path, dict[str, str]]:
    reset_moto(endpoint)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    database = f"sqlite:///{folder / 'app.db'}"
    env = sandbox.seed_all(endpoint, database, REPO / "config" / "migrations")
    return folder, {**env, "DATABASE_URL": database}


def alias_rollback(endpoint: str) -> dict[str, Any]:
    folder, env = _seeded(endpoint, "pinback-alias-")
    proxy = FaultProxy(endpoint).start()
    saved = dict(os.environ)
    os.environ.update({**env, "AWS_ENDPOINT_URL": proxy.url})
    try:
        config = load_config(own_config(folder, ALIASED))
        pins = folder / "pins.yaml"
        mutating: list[int] = []
        calls: list[int] = []
        seconds: list[float] = []
        for tag in ("v1.8.0", "v1.9.0", "v1.8.0"):
            pins.write_text(
                "apiVersion: pinback/v1\nkind: DesiredVersions\n"
                f"spec:\n  ai-worker: {{imageTag: {tag}}}\n"
            )
            engine = Engine(config)
            plan = engine.snapshot(load_desired(pins, config), "ai-worker").plan
            proxy.clear()
            started = time.perf_counter()
            (result,) = engine.apply(plan)
            seconds.append(time.perf_counter() - started)
            if result.outcome.value != "applied":
                raise RuntimeError(f"the alias rollback failed: {result.error}")
            mutating.append(sum(1 for c in proxy.calls if _mutating(c)))
            calls.append(len(proxy.calls))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        proxy.stop()
    return {
        "mutating_calls_median": statistics.median(mutating),
        "aws_calls_median": statistics.median(calls),
        "apply_seconds_median": round(statistics.median(seconds), 4),
        "runs": len(seconds),
    }


def versions_readers(endpoint: str) -> dict[str, Any]:
    duration = float(os.environ.get("PINBACK_BENCH_READERS_SECONDS", "60"))
    folder, env = _seeded(endpoint, "pinback-readers-")
    proxy = FaultProxy(endpoint).start()
    config = own_config(folder, {})
    pins = folder / "pins.yaml"
    pins.write_text((REPO / "state" / "desired-versions.yaml").read_text())
    log_path = folder / "controller.log"
    process = start(config, pins, {**env, "AWS_ENDPOINT_URL": proxy.url}, log_path)
    try:
        started = eventually(lambda: _started(log_path), timeout=60, what="the controller")
        url = f"http://{started['listen']}"
        eventually(lambda: _get(f"{url}/readyz")[0] == 200, timeout=60, what="ready")
        per_pass = _observe_cost(proxy, url)
        busy = _window(proxy, url, duration, readers=READERS)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        proxy.stop()
    extra = max(0.0, busy["calls"] - busy["passes"] * per_pass)
    return {
        "seconds": duration,
        "readers": READERS,
        "requests": busy["requests"],
        "requests_failed": busy["failed"],
        "aws_calls_per_observe": round(per_pass, 1),
        "resyncs": busy["passes"],
        "aws_calls_for_readers": round(extra, 1),
        "aws_calls_for_readers_per_resync": round(extra / max(1, busy["passes"]), 2),
    }


def _observe_cost(proxy: FaultProxy, url: str, passes: int = 3) -> float:
    """AWS calls of one pass (observing every target), over ``passes`` passes asked for."""
    before, calls = _passes(url), len(proxy.calls)
    for done in range(1, passes + 1):
        urllib.request.urlopen(urllib.request.Request(f"{url}/reconcile", method="POST")).close()
        eventually(lambda n=done: _passes(url) >= before + n, timeout=60, what="a pass")  # type: ignore[misc]
    return (len(proxy.calls) - calls) / passes


def _started(log_path: Path) -> dict[str, Any] | None:
    for line in log_path.read_text().splitlines():
        if '"controller_started"' in line:
            found: dict[str, Any] = json.loads(line)
            return found
    return None


def _window(proxy: FaultProxy, url: str, duration: float, readers: int) -> dict[str, int]:
    """Run ``readers`` refreshing for ``duration``; the AWS calls and passes meanwhile."""
    before_calls, before_passes = len(proxy.calls), _passes(url)
    stop = threading.Event()
    counts = {"requests": 0, "failed": 0}
    lock = threading.Lock()

    def reader(offset: float) -> None:
        if stop.wait(offset):
            return
        while True:
            status, _ = _get(f"{url}/versions/backend")
            with lock:
                counts["requests"] += 1
                counts["failed"] += status != 200
            if stop.wait(REFRESH):
                return

    spread = REFRESH / max(1, readers)
    threads = [threading.Thread(target=reader, args=(i * spread,)) for i in range(readers)]
    for thread in threads:
        thread.start()
    stop.wait(duration)
    stop.set()
    for thread in threads:
        thread.join(30)
    log(f"readers={readers}: {counts['requests']} requests in {duration:.0f}s")
    return {
        "calls": len(proxy.calls) - before_calls,
        "passes": _passes(url) - before_passes,
        **counts,
    }


def _passes(url: str) -> int:
    return int(json.loads(_get(f"{url}/status")[1]).get("passes", 0))


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""
