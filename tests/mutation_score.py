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
EQUIVALENT: dict[str, str] = {}


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
        module = ".".join(name.split(".")[:2])
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
