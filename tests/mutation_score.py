"""`make mutate`'s report: the mutation score of each module mutmut mutated, as JSON.

A mutant is killed when a test failed (or timed out) with it in place. A survivor is either
listed in ``EQUIVALENT`` with why no test can tell it from the original, or it is a hole in
the tests; the report names every unexplained one. Exit 1 when a module is below ``GOAL``
counting explained survivors as survivors, or an unexplained survivor exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict

GOAL = 0.90
KILLED = ("killed", "timeout")

# mutant -> why it behaves exactly like the original (mutmut's names; `mutmut show NAME`).
_NEVER_MISSING = "the default is never used: every planned action's target is in position"
_RACE = (
    "reached only when a delayed key falls due between _promote_due and reading its due "
    "time (microseconds): no test can aim at it, and the next loop turn does the same"
)
EQUIVALENT: dict[str, str] = {
    "daemon.core.chain.x_split__mutmut_21": "an extra bound past the last is never read",
    "daemon.core.freeze.x_parse_cron__mutmut_8": "zip strict: five parts are checked just before",
    "daemon.core.freeze.x_parse_cron__mutmut_11": "zip strict: five parts are checked just before",
    "daemon.core.freeze.x_parse_cron__mutmut_12": "zip strict: five parts are checked just before",
    "daemon.core.plan.x__action__mutmut_2": "an assert on what make_plan already filtered",
    "daemon.core.plan.x__action__mutmut_35": "destructive=None and () are both falsy there",
    "daemon.core.plan.x__action__mutmut_36": "destructive=None and () are both falsy there",
    "daemon.core.plan.x__order__mutmut_45": _NEVER_MISSING,
    "daemon.core.plan.x__order__mutmut_47": _NEVER_MISSING,
    "daemon.core.plan.x__order__mutmut_57": _NEVER_MISSING,
    "daemon.core.plan.x__order__mutmut_59": _NEVER_MISSING,
    "daemon.core.plan.x__order__mutmut_60": _NEVER_MISSING,
    "daemon.core.shards.x_shard_of__mutmut_7": "int.from_bytes's byteorder defaults to big",
    "daemon.controller.workqueue.xǁWorkQueueǁ__init____mutmut_13": "None and False are both falsy",
    "daemon.controller.workqueue.xǁWorkQueueǁ_promote_due__mutmut_5": "due exactly now: promoted next turn",
    "daemon.controller.workqueue.xǁWorkQueueǁadd_after__mutmut_1": "a 0 s delay falls due at once anyway",
    "daemon.controller.workqueue.xǁWorkQueueǁbackoff__mutmut_25": "uniform(-j, j) is symmetric: 1-x ~ 1+x",
    "daemon.controller.workqueue.xǁWorkQueueǁget__mutmut_29": "a wait of exactly 0 returns at once too",
    "daemon.controller.workqueue.xǁWorkQueueǁget__mutmut_31": _RACE,
    "daemon.controller.workqueue.xǁWorkQueueǁget__mutmut_33": "the deadline's exact instant is not hit",
    "daemon.controller.workqueue.xǁWorkQueueǁget__mutmut_34": _RACE,
}


def results() -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in done.stdout.splitlines():
        if ": " in line:
            name, status = line.strip().rsplit(": ", 1)
            found[name] = status
    return found


def main() -> int:
    found = results()
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    unexplained: dict[str, list[str]] = defaultdict(list)
    for name, status in found.items():
        # daemon.core.plan.x_make_plan__mutmut_3 belongs to daemon.core.plan
        module = name.rsplit(".", 1)[0]
        by_module[module]["killed" if status in KILLED else status] += 1
        if status not in KILLED and name not in EQUIVALENT:
            unexplained[module].append(f"{name}: {status}")
    report = {}
    for module, counts in sorted(by_module.items()):
        total = sum(counts.values())
        report[module] = {
            "mutants": total,
            "killed": counts["killed"],
            "score": round(counts["killed"] / total, 3),
            "equivalent": sum(1 for n in EQUIVALENT if n.startswith(module + ".")),
            "unexplained": sorted(unexplained[module]),
        }
    total = sum(r["mutants"] for r in report.values())
    killed = sum(r["killed"] for r in report.values())
    summary = {"mutants": total, "killed": killed, "score": round(killed / max(1, total), 3)}
    print(json.dumps({"modules": report, "all": summary}, indent=2))
    below = [m for m, r in report.items() if r["score"] < GOAL]
    return 1 if below or any(unexplained.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
