"""Shared pieces of the benchmarks: a fresh seeded world, timing of child processes."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


MOTO_CHILD = """
import signal
from daemon.devtools import sandbox
_, endpoint = sandbox.start_moto(0)
print(endpoint, flush=True)
signal.pause()
"""


@contextlib.contextmanager
def moto_elsewhere() -> Iterator[str]:
    """moto server in a process of its own; yields its endpoint.

    AWS is not in the measured process, so neither is its stand-in: a moto in the
    benchmark's own process would take the GIL from the threads being measured (the
    in-process apply) while the AWS CLI commands, in processes of their own, would not
    pay for it.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", MOTO_CHILD], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        endpoint = child.stdout.readline().strip()
        if not endpoint.startswith("http"):
            raise RuntimeError("moto server did not start")
        yield endpoint
    finally:
        child.terminate()
        child.wait(timeout=30)


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30).close()


@dataclass
class Run:
    seconds: float
    max_rss_mib: float
    returncode: int
    stdout: str
    stderr: str


# Runs the pinback CLI and writes its own peak RSS (VmHWM) at exit. ru_maxrss of a child is
# no good here: Linux carries the spawning process's peak across fork and exec, and the
# benchmark process holds moto and the seeded fleet.
PINBACK_WITH_PEAK = """
import atexit, os, sys
def report():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(os.environ["PINBACK_BENCH_PEAK"], "w").write(line.split()[1])
atexit.register(report)
sys.argv = ["pinback", *sys.argv[1:]]
from daemon.cli.app import main
main()
"""


def pinback_args(*args: str) -> list[str]:
    return [sys.executable, "-c", PINBACK_WITH_PEAK, *args]


def run_child(args: list[str], env: dict[str, str], cwd: Path = REPO) -> Run:
    """Run a child process: wall time, and its peak memory when it is ``pinback_args``."""
    peak_file = Path(tempfile.mkstemp(prefix="pinback-peak-")[1])
    started = time.perf_counter()
    done = subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, **env, "PINBACK_BENCH_PEAK": str(peak_file)},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    peak = peak_file.read_text().strip()
    peak_file.unlink()
    return Run(
        seconds, int(peak) / 1024 if peak else 0.0, done.returncode, done.stdout, done.stderr
    )


def median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def own_config(folder: Path, replace: dict[str, str] | None = None) -> Path:
    """The repo's config with its own audit trail in ``folder``: a benchmark never writes to
    the sandbox's trail (``make run`` may be using it)."""
    text = (REPO / "config" / "pinback.yaml").read_text()
    migrations = REPO / "config" / "migrations"
    text = text.replace("scriptLocation: migrations", f"scriptLocation: {migrations}")
    text = text.replace("sqlite:///../.sandbox/audit.db", f"sqlite:///{folder / 'audit.db'}")
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    path = folder / "pinback.yaml"
    path.write_text(text)
    return path
