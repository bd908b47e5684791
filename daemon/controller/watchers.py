"""What starts a pass besides an apply: the file watcher, the resync timer (with jitter),
the git poll, and a signed git push (``POST /hooks/git``).

Each only asks for a pass (``Shared.request_pass``); the pass itself reads and compares.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daemon.adapters import environment
from daemon.adapters.logs import LogEvent
from daemon.controller.shared import Shared
from daemon.controller.sources import GitSource
from daemon.core.signing import signed_by
from daemon.errors import PinbackError

WATCH_TICK = 1.0  # the file watcher wakes at least this often (and first, once armed)


REPLAY_WINDOW = 3600.0  # seconds a delivery id is remembered


class Watchers:
    def __init__(self, shared: Shared, log: Any) -> None:
        self.shared = shared
        self.log = log
        self.watching = threading.Event()  # the file watcher is armed
        self.armed_at_pass = 0  # the pass count when it was armed (``ready`` waits for one more)
        # Delivery ids acted on, with when (time.monotonic()): a replay within REPLAY_WINDOW
        # is refused; older ones are forgotten.
        self._deliveries: collections.OrderedDict[str, float] = collections.OrderedDict()

    def resync_loop(self) -> None:
        shared = self.shared
        while not shared.stopping.is_set():
            interval = shared.config.model.daemon.resync_interval
            if shared.stopping.wait(interval * random.uniform(0.9, 1.1)):
                return
            shared.request_pass()

    def git_loop(self) -> None:
        """Fetch the pin file's repository every pollInterval; a new commit at the ref starts a pass."""
        shared = self.shared
        while not shared.stopping.is_set():
            git = shared.config.model.desired_state.git
            try:
                if shared.source.refresh():
                    shared.request_pass()
            except PinbackError as exc:
                self.log.error(LogEvent.GIT_FETCH_FAILED, error=str(exc))
            if shared.stopping.wait(git.poll_interval if git else 15.0):
                return

    def watch_loop(self) -> None:
        """Wake a pass when the bytes of either file change, however they were changed.

        The folders of both the paths as configured and the files they lead to are
        watched, and any event there is checked by reading the two files: an editor that
        replaces a file, a ConfigMap volume or git-sync swapping a ``..data`` symlink to a
        new folder, and a plain write all show as new bytes. The first yield (an empty
        one, ``WATCH_TICK`` after the watcher is armed) marks the controller as watching
        and asks for a pass, so an edit saved before the watcher was armed is still read.
        The bytes are compared on every wake, with or without events, so a change made
        while one watch ends and the next is armed (a swap moves where a link leads) is
        caught within ``WATCH_TICK``, never left to the resync.
        """
        from watchfiles import watch

        shared = self.shared
        seen = _contents((shared.config_path, shared.state_path))
        while not shared.stopping.is_set():
            paths = (shared.config_path, shared.state_path)
            folders = _folders(paths)
            try:
                for _changes in watch(
                    *folders,
                    debounce=1000,
                    step=20,
                    stop_event=shared.stopping,
                    yield_on_timeout=True,
                    rust_timeout=int(WATCH_TICK * 1000),
                ):
                    if not self.watching.is_set():
                        self.armed_at_pass = shared.health.passes
                        self.watching.set()
                        shared.request_pass()
                    # Every wake, events or not: what changed while no watcher was armed
                    # (between two watches, say) is caught within WATCH_TICK.
                    if (now := _contents(paths)) != seen:
                        seen = now
                        shared.request_pass()
                    if (shared.config_path, shared.state_path) != paths or _folders(
                        paths
                    ) != folders:
                        break  # the config moved the pin file, or a link now leads elsewhere
            except (OSError, RuntimeError) as exc:
                self.log.error(LogEvent.WATCH_FAILED, error=str(exc))
                shared.stopping.wait(1.0)

    def webhook_configured(self) -> bool:
        """Whether ``POST /hooks/git`` has a secret to check and a git source to fetch."""
        git = self.shared.config.model.desired_state.git
        secret_env = git.webhook_secret_env if git else None
        return (
            isinstance(self.shared.source, GitSource)
            and secret_env is not None
            and bool(environment.named(secret_env))
        )

    def git_webhook(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """``POST /hooks/git``: a GitHub push signed with X-Hub-Signature-256 starts a fetch
        and a pass at once. Unsigned or badly signed: 401 and nothing happens; a delivery id
        seen within the last hour (a replay), or none at all: 409 and nothing happens."""
        shared = self.shared
        git = shared.config.model.desired_state.git
        secret_env = git.webhook_secret_env if git else None
        secret = environment.named(secret_env) if secret_env else None
        source = shared.source
        if not isinstance(source, GitSource) or not secret:
            return 404, {
                "error": "no git webhook is configured (desiredState.git.webhookSecretEnv)"
            }
        lowered = {k.lower(): v for k, v in headers.items()}
        if not signed_by(secret, body, lowered.get("x-hub-signature-256", "")):
            self.log.warning(
                LogEvent.GIT_WEBHOOK_REFUSED, reason="missing or bad X-Hub-Signature-256"
            )
            return 401, {"error": "bad signature"}
        delivery = lowered.get("x-github-delivery", "")
        if not delivery:
            self.log.warning(LogEvent.GIT_WEBHOOK_REFUSED, reason="no X-GitHub-Delivery")
            return 409, {"error": "a delivery needs its X-GitHub-Delivery id"}
        now = time.monotonic()
        with shared.lock:
            while self._deliveries and next(iter(self._deliveries.values())) < now - REPLAY_WINDOW:
                self._deliveries.popitem(last=False)
            if delivery in self._deliveries:
                self.log.warning(LogEvent.GIT_WEBHOOK_REFUSED, reason=f"replay of {delivery}")
                return 409, {"duplicate": delivery}
            self._deliveries[delivery] = now
        threading.Thread(target=self._fetch_now, name="git-webhook", daemon=True).start()
        return 202, {"fetching": source.ref, "delivery": delivery}

    def _fetch_now(self) -> None:
        try:
            self.shared.source.refresh()
        except PinbackError as exc:
            self.log.error(LogEvent.GIT_FETCH_FAILED, error=str(exc))
        self.shared.request_pass()


def _folders(paths: tuple[Path, ...]) -> list[str]:
    """The folders to watch for ``paths``: where each is, and where its links lead."""
    return sorted({str(p.parent) for p in paths} | {str(p.resolve().parent) for p in paths})


def _contents(paths: tuple[Path, ...]) -> tuple[bytes | None, ...]:
    """The files' bytes now, read through their links; None for one that cannot be read."""
    found: list[bytes | None] = []
    for path in paths:
        try:
            found.append(path.read_bytes())
        except OSError:
            found.append(None)
    return tuple(found)
