"""`make flaky`: run the tests that start `pinback run` as a process many times, two runs at
once on the machine's cores, and count the runs that failed: a test that fails one run in
twenty under load is a defect, not bad luck.

``python -m tests.flaky [RUNS] [-k EXPR]``: RUNS (default 20) runs of every process-level
test (``tests/e2e``), two at a time, each with its own temporary
folder and free ports. Prints one JSON document; exit 1 when any run failed, with the
failing tests named.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AT_ONCE = 2


def process_tests() -> list[str]:
    """The test files that start the controller (or ``make run``) as a process: tests/e2e."""
    return sorted(
        str(path.relative_to(REPO)) for path in (REPO / "tests" / "e2e").glob("test_*.py")
    )


def one_run(index: int, files: list[str], extra: list[str]) -> dict[str, object]:
    base = tempfile.mkdtemp(prefix=f"pinback-flaky-{index}-")
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            base,
            *files,
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "true"},
        check=False,
    )
    failed = sorted(set(re.findall(r"^FAILED (\S+)", done.stdout, re.MULTILINE)))
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    log = Path(base) / "pytest.log"  # kept: a failure one run in twenty needs its traceback
    log.write_text(done.stdout + done.stderr)
    print(f"flaky: run {index + 1}: {summary}", file=sys.stderr, flush=True)
    for name in failed:
        print(f"flaky: run {index + 1} failed {name} (log: {log})", file=sys.stderr, flush=True)
    for folder in re.findall(r"^controllers' logs: (\S+)", done.stdout, re.MULTILINE):
        print(f"flaky: run {index + 1} kept {folder}", file=sys.stderr, flush=True)
    return {
        "run": index + 1,
        "exit": done.returncode,
        "seconds": round(time.monotonic() - started),
        "failed": failed,
        "summary": summary,
    }


def main() -> int:
    args = sys.argv[1:]
    runs = int(args.pop(0)) if args and args[0].isdigit() else 20
    files = process_tests()
    with ThreadPoolExecutor(AT_ONCE) as pool:
        results = list(pool.map(lambda i: one_run(i, files, args), range(runs)))
    failing = sorted({name for r in results for name in r["failed"]})  # type: ignore[attr-defined]
    bad = [r for r in results if r["exit"] != 0]
    print(
        json.dumps(
            {
                "runs": runs,
                "at_once": AT_ONCE,
                "files": files,
                "failed_runs": len(bad),
                "failing_tests": failing,
                "results": results,
            },
            indent=2,
        )
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
