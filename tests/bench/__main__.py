"""``make bench``: run every benchmark and print one JSON document on stdout."""

from __future__ import annotations

import json
import os
import platform
import sys

from tests.bench import apply_four, audit, controller, fleet, ha
from tests.bench.common import moto_elsewhere


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    only = set(sys.argv[1:])
    with moto_elsewhere() as endpoint:
        results: dict[str, object] = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        }
        if not only or "apply" in only:
            results["apply_four_targets"] = apply_four.measure(endpoint)
        if not only or "fleet" in only:
            results["fleet_plan"] = fleet.measure(endpoint)
        if not only or "controller" in only or "latency" in only:
            results["controller_pin_edit"] = controller.latency(endpoint)
        if not only or "controller" in only:
            results["controller_fleet_resyncs"] = controller.fleet_resyncs(endpoint)
        if not only or "audit" in only:
            results["audit"] = audit.measure()
        if not only or "ha" in only or "failover" in only:
            results["failover"] = ha.failover(endpoint)
        if not only or "ha" in only:
            results["sharded_fleet"] = ha.sharded_fleet(endpoint)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
