"""``pinback run`` as a child process, with its JSON log lines and HTTP endpoints at hand."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from tests.stands.waiting import eventually

REPO = Path(__file__).resolve().parents[2]


class Daemon:
    running: ClassVar[list[Daemon]] = []  # every controller a test started, for ``kill_leftovers``

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run", *args],
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        Daemon.running.append(self)
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        started = eventually(
            lambda: self.event("controller_started"), timeout=60, what="the controller to start"
        )
        self.url = f"http://{started['listen']}"

    @classmethod
    def on(cls, config: Path, pins: Path, env: dict[str, str] | None = None) -> Daemon:
        """``pinback run --config CONFIG --state PINS`` on a free port."""
        return cls(
            "--config", str(config), "--state", str(pins), "--listen", "127.0.0.1:0", env=env
        )

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        with self._lock:
            lines = list(self.lines)
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if name is None or event.get("event") == name:
                found.append(event)
        return found

    def event(
        self, name: str, where: Callable[[dict[str, Any]], bool] = lambda e: True
    ) -> dict[str, Any] | None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"the controller exited ({self.process.returncode}):\n"
                + "\n".join(self.lines[-30:])
            )
        return next((e for e in self.events(name) if where(e)), None)

    def get(self, path: str, method: str = "GET") -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def metric(self, name: str, **labels: str) -> float | None:
        """The value of one series from ``/metrics``, or None when it is absent."""
        _, text = self.get("/metrics")
        for line in text.splitlines():
            match = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
            if not match or match.group(1) != name:
                continue
            found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(match.group(3))
        return None

    def ready(self) -> bool:
        return self.get("/readyz")[0] == 200

    def more_passes(self, count: int, timeout: float = 30) -> None:
        """Wait until ``count`` more passes have finished than have now."""
        seen = len(self.events("pass_finished"))
        eventually(
            lambda: len(self.events("pass_finished")) >= seen + count,
            timeout=timeout,
            what=f"{count} more passes",
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40, stuck_ok: bool = False) -> int:
        """Send ``sig`` and wait for the exit. A controller that does not exit in time has
        every thread's stack dumped into its log (SIGUSR1), is killed, and the test fails
        with that log: a hung shutdown is a defect to read, not a process to leak into the
        next test. One that exits with threads still running after its grace period fails
        the test too, unless the test made a call hang on purpose (``stuck_ok``)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
            self._reader.join(timeout=10)
            finished = self.events("shutdown_finished")
            if finished and finished[-1].get("still_running") and not stuck_ok:
                raise AssertionError(
                    "the controller exited with threads still running after the grace period:\n"
                    + "\n".join(self.lines[-150:])
                )
            return code
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            eventually(lambda: "most recent call first" in self.log(), timeout=10, what="stacks")
            self.process.kill()
            self.process.wait(timeout=10)
            self._reader.join(timeout=10)
            raise AssertionError(
                f"the controller did not exit {timeout:.0f}s after signal {sig}; its log:\n"
                + "\n".join(self.lines[-150:])
            ) from None

    @classmethod
    def kill_leftovers(cls) -> list[str]:
        """Kill the controllers a test left running (a failure half-way); name them."""
        left = [d for d in cls.running if d.process.poll() is None]
        for daemon in left:
            daemon.process.kill()
            daemon.process.wait(timeout=10)
        cls.running.clear()
        return [" ".join(d.process.args[3:]) for d in left]  # type: ignore[index]

    def log(self) -> str:
        with self._lock:
            return "\n".join(self.lines)


def waiting_on(daemon: Daemon, revision: str) -> bool:
    """True once the controller is waiting on a rollout to ``revision`` (not an earlier wait)."""
    events = daemon.events()
    started = [
        i
        for i, e in enumerate(events)
        if e.get("event") == "apply_started" and e.get("desired") == revision
    ]
    return bool(started) and any(
        e.get("event") == "progress" and "IN_PROGRESS" in e.get("message", "")
        for e in events[started[-1] :]
    )
