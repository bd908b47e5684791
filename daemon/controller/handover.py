"""One writer: a one-shot command hands its change to the controller that runs its files.

Two writers race: a ``pinback apply`` from a laptop and a running controller would both
issue the same rollback, each wait on the other's deployment, and record it twice. When
a controller answers on ``daemon.listen`` *and runs the same config and pin file* (its
``/status`` says which, by the config's SHA-256 and the pin file's path), ``pinback
apply`` asks it to reconcile now and follows its ``/status`` until every target of the
plan is in sync, failed, held or blocked. A controller of another config on that port is
not believed: the command says so and works on its own. ``--local`` forces a local apply
(a controller that is down or stuck).
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from daemon.core.model import Plan
from daemon.errors import PinbackError

POLL = 0.5
SETTLED = ("InSync", "Failed", "Held", "Blocked", "Frozen", "Suspended")


def identity(config_path: Path, state_path: Path, config_bytes: bytes) -> dict[str, str]:
    """What a controller says it runs, and what a command compares with its own files."""
    return {
        "config": str(config_path),
        "configSha256": hashlib.sha256(config_bytes).hexdigest(),
        "pins": str(state_path),
    }


@dataclass(frozen=True)
class Found:
    """What answers on ``daemon.listen``: its status, and whether it runs our files."""

    url: str
    status: dict[str, Any]
    ours: bool
    why_not: str = ""
    environment: str | None = None  # ours, when the controller runs several
    token: str | None = None  # the bearer token it asks for (daemon.apiTokenEnv)

    def mine(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Our environment's part of a ``/status`` document (all of it with one)."""
        if self.environment is None:
            return dict(document)
        own = document.get("environments", {}).get(self.environment, {})
        rows = [r for r in document.get("targets", []) if r.get("environment") == self.environment]
        return {**own, "targets": rows}


def find(listen: str, ours: Mapping[str, str], token: str | None = None) -> Found | None:
    """The controller on ``listen``, or None when nothing answers. ``token``: the bearer
    token of ``daemon.apiTokenEnv``, when this command has it."""
    url = f"http://{listen}"
    try:
        document = _get(f"{url}/status", timeout=2, token=token)
    except urllib.error.HTTPError as exc:  # something answers, and refuses us
        why = (
            "it asks for the token of daemon.apiTokenEnv"
            if exc.code in (401, 403)
            else f"it answered {exc.code}"
        )
        return Found(url, {}, False, why)
    except (OSError, ValueError):
        return None
    several = document.get("environments") or {}
    runs = {name: e.get("identity") or {} for name, e in several.items()}
    if not runs:
        runs = {None: document.get("identity") or {}}
    theirs = next(iter(runs.values()))
    if theirs.get("configSha256") != ours["configSha256"]:
        why = f"it runs another config ({theirs.get('config', 'unknown')})"
        return Found(url, document, False, why)
    for name, identity in runs.items():
        if identity.get("pins") == ours["pins"]:
            return Found(url, document, True, environment=name, token=token)
    pins = ", ".join(str(i.get("pins")) for i in runs.values())
    return Found(url, document, False, f"it reads another pin file ({pins})")


def reconcile_and_follow(
    found: Found,
    plan: Plan,
    pins: Mapping[str, str | None],
    timeout: float,
    progress: Callable[[str, str], None],
) -> dict[str, dict[str, Any]]:
    """Ask the controller to reconcile the plan's targets now and follow it until each is
    settled at its pin; returns each target's last ``/status`` row."""
    targets = [a.target for a in plan.actions]
    passes = int(found.mine(found.status).get("passes", 0))
    only = targets[0] if len(targets) == 1 else None
    query = {"target": only, "env": found.environment}
    asked = "&".join(f"{k}={quote(v)}" for k, v in query.items() if v is not None)
    _post(f"{found.url}/reconcile" + (f"?{asked}" if asked else ""), found.token)
    progress("controller", f"asked the controller at {found.url} to reconcile; following it")
    deadline = time.monotonic() + timeout
    said: dict[str, str] = {}
    while True:
        try:
            document = found.mine(_get(f"{found.url}/status", timeout=10, token=found.token))
        except (OSError, ValueError) as exc:  # it stopped, or was killed, while we followed
            raise PinbackError(
                f"lost the controller at {found.url} while following it ({exc}); what it had "
                "started goes on in AWS or is finished by the next controller: see `pinback status`"
            ) from None
        rows = {r["target"]: r for r in document.get("targets", [])}
        fresh = int(document.get("passes", 0)) > passes
        settled = {}
        for name in targets:
            row = rows.get(name, {})
            line = _line(row)
            if line != said.get(name):
                progress(name, line)
                said[name] = line
            if fresh and row.get("desired") == pins.get(name) and row.get("phase") in SETTLED:
                settled[name] = row
        if len(settled) == len(targets):
            return settled
        if time.monotonic() >= deadline:
            waiting = ", ".join(t for t in targets if t not in settled)
            raise PinbackError(
                f"the controller has not finished {waiting} in {timeout:.0f}s; it goes on: "
                "follow it with `pinback status`"
            )
        time.sleep(POLL)


def _line(row: Mapping[str, Any]) -> str:
    applying = row.get("applying")
    if applying:
        return f"{row.get('phase')}: {applying.get('step')} ({applying.get('elapsed')})"
    return f"{row.get('phase', 'Unknown')}: {row.get('state', '')}"


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _get(url: str, timeout: float, token: str | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, headers=_headers(token))
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        document: dict[str, Any] = json.loads(answer.read())
    return document


def _post(url: str, token: str | None = None) -> None:
    request = urllib.request.Request(url, method="POST", data=b"", headers=_headers(token))
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except (OSError, urllib.error.URLError) as exc:
        raise PinbackError(f"the controller did not take the request: {exc}") from None
