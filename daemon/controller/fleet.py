"""One process for every environment of a config: one listener, one ``/metrics``, one page.

DESIGN §10: staging and prod are run by the same controller. Each environment keeps a
``Controller`` of its own (its pin file and watcher, its AWS session and role, its
audit records and leases, its work queue), so a stuck or invalid environment never holds
up another; what they share is what a person or Prometheus sees: the metric families,
the change counter behind ``/events``, and the endpoints, which this class answers by
asking each environment and putting the answers together. The audit trail is one for every
environment, so its anchors (``audit.anchor``, DESIGN §12) are written from here, once.

With one environment (a config without ``environments:``, or ``--env NAME``) every
endpoint answers exactly what that environment's controller answers.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from daemon.adapters import logs
from daemon.adapters.anchors import AnchorStore
from daemon.controller.anchoring import Anchoring
from daemon.controller.manager import Controller
from daemon.controller.metrics import Families
from daemon.controller.shared import Changes
from daemon.controller.statusview import PAGE_EVENTS, page_time
from daemon.errors import ConfigError, NotChosen
from daemon.spec import LoadedConfig, load_config

SIGNAL_CHECK = 0.2  # how often the main thread wakes to run signal handlers


class Fleet:
    """The controllers of a config's environments, served as one (``daemon.web.server.Served``)."""

    def __init__(
        self, config_path: Path, state_path: Path | None = None, environment: str | None = None
    ) -> None:
        base = load_config(config_path)
        declared = base.environments
        names: list[str | None] = [environment] if environment or not declared else [*declared]
        if state_path is not None and len(names) > 1:
            raise ConfigError(
                "--state names one pin file but this config declares the environments "
                f"{', '.join(declared)}: choose one with --env"
            )
        self.families = Families()
        self.changes = Changes()
        self.stopping = threading.Event()
        built = [
            Controller(config_path, state_path, name, self.families, self.changes) for name in names
        ]
        self.controllers: dict[str, Controller] = {c.environment: c for c in built}
        self.only = built[0] if len(built) == 1 else None
        self._anchorer: threading.Thread | None = None
        self.anchoring = self._anchoring(base)

    def _anchoring(self, base: LoadedConfig) -> Anchoring | None:
        """The audit anchors' writer, when the config has ``audit.anchor``; a bucket that
        cannot keep them is refused here, before anything runs (``ConfigError``)."""
        store = AnchorStore.of(base)
        if store is None:
            return None
        anchoring = Anchoring(
            store,
            self.first.audit,
            self.families,
            logs.get(),
            self._writes_anchors,
            self.changes.changed,
        )
        anchoring.check_bucket()
        return anchoring

    def _writes_anchors(self) -> bool:
        """The one replica that anchors the shared trail: the leader of the first
        environment's shard 0, or the only controller."""
        leadership = self.first.leases.leadership
        return leadership is None or leadership.epoch(0) is not None

    @property
    def first(self) -> Controller:
        return next(iter(self.controllers.values()))

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        for controller in self.controllers.values():
            controller.start()
        if self.anchoring is not None:
            self._anchorer = threading.Thread(
                target=self.anchoring.loop, args=(self.stopping,), name="anchoring", daemon=True
            )
            self._anchorer.start()

    def run_until_signalled(self) -> list[str]:
        """Run until SIGTERM or SIGINT, then stop every environment; returns the threads
        still running after the grace period."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.start()
        # With a timeout: a signal the kernel hands to another thread runs its Python handler
        # only once the main thread runs bytecode again, and a wait with no timeout never does.
        while not self.stopping.wait(SIGNAL_CHECK):
            pass
        return self.stop()

    def stop(self) -> list[str]:
        """Every environment stops taking work at once; all share one grace period."""
        self.stopping.set()
        anchors_last = self.anchoring is not None and self.anchoring.writes()
        grace = max(c.config.model.daemon.shutdown_grace for c in self.controllers.values())
        for controller in self.controllers.values():
            controller.begin_stop()
        deadline = time.monotonic() + grace
        alive: list[str] = []
        for name, controller in self.controllers.items():
            stuck = controller.finish_stop(deadline)
            alive += [f"{name}/{thread}" for thread in stuck] if self.only is None else stuck
        if anchors_last and self.anchoring is not None and time.monotonic() < deadline:
            # After the last record of this run (leases released, applies ended): the head
            # a successor, or an incident review, finds anchored. Within the grace period
            # only (a supervisor's kill follows it), and bounded by short timeouts.
            if self._anchorer is not None:
                self._anchorer.join(timeout=max(0.0, deadline - time.monotonic()))
            self.anchoring.write()
        return alive

    # -- which environment a request is about ------------------------------------------

    def chosen(self, environment: str | None) -> list[Controller]:
        """The environments a request names (``?env=``), or every one; ``NotChosen`` with
        the sentence to answer when it names none of them."""
        if environment is None:
            return list(self.controllers.values())
        if environment not in self.controllers:
            raise NotChosen(
                f"no environment named {environment!r} here "
                f"(environments: {', '.join(self.controllers)})"
            )
        return [self.controllers[environment]]

    def target_error(self, target: str | None, environment: str | None) -> str | None:
        """Why ``target`` in ``environment`` is not something to act on, or None."""
        try:
            chosen = self.chosen(environment)
        except NotChosen as exc:
            return str(exc)
        if target is not None and not any(target in c.targets for c in chosen):
            return f"no target named {target!r}"
        return None

    # -- the endpoints ------------------------------------------------------------------

    def healthy(self) -> bool:
        return all(c.healthy() for c in self.controllers.values())

    def ready(self) -> bool:
        return all(c.ready() for c in self.controllers.values())

    def metrics_text(self) -> bytes:
        return self.families.render()

    def reconcile_now(self, target: str | None = None, environment: str | None = None) -> None:
        for controller in self.chosen(environment):
            if target is None or target in controller.targets:
                controller.reconcile_now(target)

    def wait_change(self, seen: int, timeout: float) -> int:
        return self.changes.wait(seen, timeout, self.stopping)

    def versions_json(self, target: str, environment: str | None = None) -> dict[str, Any]:
        chosen = [c for c in self.chosen(environment) if target in c.targets]
        if len(chosen) > 1:
            raise NotChosen(
                f"{target} is in every environment: name one with ?env= "
                f"({', '.join(c.environment for c in chosen)})"
            )
        return chosen[0].versions_json(target)

    def git_webhook(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Every environment whose pins come from git fetches; the answer is the best one
        (a fetch started beats a duplicate, which beats a refusal)."""
        answers = [c.git_webhook(body, headers) for c in self.controllers.values()]
        return min(answers, key=lambda answer: _HOOK_RANK.get(answer[0], 9))

    def git_webhook_configured(self) -> bool:
        return any(c.git_webhook_configured() for c in self.controllers.values())

    def status(self) -> dict[str, Any]:
        if self.only is not None:
            document = self.only.status()
        else:
            document = merged_status({name: c.status() for name, c in self.controllers.items()})
        return {**document, **self._anchor_status()}

    def page_view(self) -> dict[str, Any]:
        if self.only is not None:
            view = self.only.page_view()
            view["status"] = {**view["status"], **self._anchor_status()}
            return view
        views = {name: c.page_view() for name, c in self.controllers.items()}
        events = sorted(
            (e for view in views.values() for e in view["events"]), key=lambda e: str(e["ts"])
        )
        return {
            "status": {
                **merged_status({name: view["status"] for name, view in views.items()}),
                **self._anchor_status(),
            },
            "now": page_time(),
            "events": events[-PAGE_EVENTS:],
            "durations": {name: view["durations"] for name, view in views.items()},
            "environments": list(views),
        }

    def _anchor_status(self) -> dict[str, Any]:
        return {"auditAnchor": self.anchoring.status()} if self.anchoring is not None else {}


_HOOK_RANK = {202: 0, 200: 1, 409: 2, 401: 3, 404: 4}


def merged_status(documents: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Several environments' ``/status`` documents as one: every row (each names its
    environment), the process's verdicts over all of them, and each environment's own
    fields under ``environments``, where a one-shot command finds the one it runs."""
    every = list(documents.values())
    return {
        "targets": [row for document in every for row in document["targets"]],
        "desiredStateValid": all(d.get("desiredStateValid", True) for d in every),
        "watching": all(d.get("watching", False) for d in every),
        "passes": min(int(d.get("passes", 0)) for d in every),
        "environments": {
            name: {k: v for k, v in document.items() if k != "targets"}
            for name, document in documents.items()
        },
        **_first_error(documents.items()),
    }


def _first_error(documents: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    errors = [
        f"{name}: {d['desiredStateError']}" for name, d in documents if d.get("desiredStateError")
    ]
    return {"desiredStateError": "; ".join(errors)} if errors else {}
