"""Rollback readiness over the 2,000-target fleet: the read calls and time of one check.

The controller checks, every ``readinessInterval``, the versions before each target's live
one (``daemon.controller.readiness``, ``Engine.readiness``). Measured here in process with
the controller's own engine, through the fault proxy (which counts every request): a first
check (cold caches, as after a start) and a second (warm, as every later interval).
A service has one revision before the live one, a function two tags (of three in its
repository): 1,000 + 2,000 versions checked. The engine reads a throwaway audit trail, as
the controller's does, holding the release before the live one of every target: each check
reads what each target ran (``daemon.core.waslive``) from it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from daemon.adapters.audit import AuditLog
from daemon.core.records import Entry, Event
from daemon.devtools import sandbox
from daemon.engine.engine import Engine
from daemon.spec import load_config
from tests.bench import fleet
from tests.bench.common import log, reset_moto
from tests.stands.fault_proxy import FaultProxy

DEPTH = 3


def measure(endpoint: str) -> dict[str, Any]:
    reset_moto(endpoint)
    config_text, _ = fleet.seed(endpoint)
    folder = Path(tempfile.mkdtemp(prefix="pinback-readiness-"))
    (folder / "pinback.yaml").write_text(config_text)
    proxy = FaultProxy(endpoint).start()
    saved = dict(os.environ)
    try:
        sandbox.environment({"AWS_ENDPOINT_URL": proxy.url})
        audit = AuditLog(f"sqlite:///{folder / 'audit.db'}")
        config = load_config(folder / "pinback.yaml")
        audit.append([released(name, config.kind_of(name).value) for name in config.model.targets])
        engine = Engine(config, audit=audit)
        names = list(engine.config.model.targets)
        rounds = []
        for label in ("first", "second"):
            log(f"readiness of {len(names)} targets, {label} check")
            before = len(proxy.calls)
            started = time.perf_counter()
            answers = engine.readiness(names, DEPTH)
            seconds = time.perf_counter() - started
            calls = proxy.calls[before:]
            operations = Counter(c.split(" ")[0] or c.split("?")[0] for c in calls)
            failed = [f"{n}: {a}" for n, a in answers.items() if isinstance(a, Exception)]
            assert not failed, failed[:3]
            checked = [v for a in answers.values() if isinstance(a, list) for v in a]
            refused = [(v.version, v.why) for v in checked if not v.ready]
            assert not refused, refused[:3]
            rounds.append(
                {
                    "check": label,
                    "seconds": round(seconds, 2),
                    "aws_calls": len(calls),
                    "calls_per_target": round(len(calls) / len(names), 2),
                    "versions_checked": len(checked),
                    "calls_by_operation": dict(operations.most_common(8)),
                }
            )
    finally:
        proxy.stop()
        os.environ.clear()
        os.environ.update(saved)
    return {"targets": len(names), "depth": DEPTH, "rounds": rounds}


def released(target: str, kind: str) -> Entry:
    """The release of the live version over the one before it, as the trail records it."""
    before, after = ("1", "2") if kind == "ecs" else (fleet.TAGS[-2], fleet.TAGS[-1])
    return Entry(
        event=Event.APPLY_SUCCEEDED,
        target=target,
        kind=kind,
        desired=after,
        live_before=before,
        live_after=after,
    )
