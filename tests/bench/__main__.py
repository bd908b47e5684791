"""``make bench``: run every benchmark and print one JSON document on stdout.

Each figure is also written to stderr as soon as it is measured, and a part that fails is
reported as ``{"error": ...}`` in its place while the others still run: one broken part
never costs the figures of the rest.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import traceback
from collections.abc import Callable

from tests.bench import (
    apply_four,
    audit,
    controller,
    environments,
    fleet,
    ha,
    incident,
    readiness,
    restore,
    spec_load,
)
from tests.bench.common import log, moto_elsewhere


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    only = set(sys.argv[1:])
    failed = False
    with moto_elsewhere() as endpoint:
        parts: list[tuple[str, set[str], Callable[[], object]]] = [
            ("apply_four_targets", {"apply"}, lambda: apply_four.measure(endpoint)),
            ("fleet_plan", {"fleet"}, lambda: fleet.measure(endpoint)),
            (
                "two_environments",
                {"fleet", "environments"},
                lambda: environments.measure(endpoint),
            ),
            (
                "controller_pin_edit",
                {"controller", "latency"},
                lambda: controller.latency(endpoint),
            ),
            (
                "controller_fleet_resyncs",
                {"controller"},
                lambda: controller.fleet_resyncs(endpoint),
            ),
            ("rollback_readiness", {"readiness"}, lambda: readiness.measure(endpoint)),
            ("audit", {"audit"}, audit.measure),
            ("spec_load", {"spec"}, spec_load.measure),
            ("failover", {"ha", "failover"}, lambda: ha.failover(endpoint)),
            ("sharded_fleet", {"ha"}, lambda: ha.sharded_fleet(endpoint)),
            (
                "lambda_alias_rollback",
                {"incident", "alias"},
                lambda: incident.alias_rollback(endpoint),
            ),
            ("restore_whole_stack", {"restore"}, lambda: restore.whole_stack(endpoint)),
            ("restore_in_flight_rolling", {"restore"}, lambda: restore.in_flight_rolling(endpoint)),
            (
                "restore_blue_green_in_bake",
                {"restore"},
                lambda: restore.blue_green_in_bake(endpoint),
            ),
            (
                "versions_readers",
                {"incident", "readers"},
                lambda: incident.versions_readers(endpoint),
            ),
        ]
        results: dict[str, object] = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        }
        for name, tags, measure in parts:
            if only and not (only & tags):
                continue
            try:
                results[name] = measure()
            except Exception as exc:  # the other parts' figures still count
                failed = True
                traceback.print_exc()
                results[name] = {"error": f"{exc.__class__.__name__}: {exc}"}
            log(f"{name}: {json.dumps(results[name])}")
    print(json.dumps(results, indent=2))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
