"""Loading pin files near the 1 MiB limit: what the fuzz tests no longer time (a deadline
in a test is a speed assertion; here it is a figure)."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from daemon.errors import SpecError
from daemon.spec import load_config, load_desired
from daemon.spec.yamlfile import MAX_BYTES
from tests.bench.common import REPO, log

ROUNDS = 5


def _timed(load: Any) -> float:
    started = time.perf_counter()
    with contextlib.suppress(SpecError):  # refusing is an answer too; its time counts
        load()
    return time.perf_counter() - started


def measure() -> dict[str, Any]:
    config = load_config(REPO / "config" / "pinback.yaml")
    folder = Path(tempfile.mkdtemp(prefix="pinback-spec-"))
    head = "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n  backend:\n    revision: 3\n"
    valid = folder / "valid.yaml"
    valid.write_text(head + "    reason: " + "x" * (MAX_BYTES - len(head) - 20) + "\n")
    invalid = folder / "invalid.yaml"
    invalid.write_text(head + "  payments: {revision: 1}\n" * ((MAX_BYTES - len(head)) // 26))
    figures: dict[str, Any] = {"rounds": ROUNDS, "bytes": MAX_BYTES}
    for name, path in (("valid", valid), ("invalid_every_line", invalid)):
        log(f"spec: loading a {path.stat().st_size:,}-byte {name} pin file {ROUNDS} times")
        times = [_timed(lambda p=path: load_desired(p, config)) for _ in range(ROUNDS)]
        figures[f"load_{name}_s"] = round(statistics.median(times), 3)
    return figures
