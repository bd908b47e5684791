"""A pinback target kind: an AWS Systems Manager Parameter Store parameter pinned to a value.

A feature flag or a configuration value is as much a part of a release as an image tag: when
a new build ships with ``/leh/ai-worker/model`` moved to ``gpt-x``, rolling back the image
without the parameter is half a rollback. With this plug-in installed, the config says::

    targets:
      ai-model:
        kind: ssm-parameter
        parameter: /leh/ai-worker/model

and the pin file pins it like any other target::

    spec:
      ai-model:
        value: "model-2026-10"

The parameter's history (``GetParameterHistory``) is its list of versions, newest first, so
``pinback versions``, ``pinback rollback --steps 1`` and the readiness check work on it as on
the built-in kinds. Only ``String`` parameters are managed: a ``SecureString``'s value would be
written into the pin file and the audit trail, so one is reported, never read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from daemon.plugin import (
    NOTHING_STARTED,
    Action,
    AwsDriver,
    Client,
    DriverContext,
    Kind,
    Observed,
    Pin,
    PinBase,
    Progress,
    Resolved,
    Started,
    TargetBase,
    TargetKind,
    VersionInfo,
    Waiting,
    fan_out,
    wait_until,
)

NAME = Kind("ssm-parameter")
BATCH = 10  # GetParameters takes at most 10 names a call
HISTORY_PAGE = 50  # GetParameterHistory's largest page


class SsmParameterTarget(TargetBase):
    """A target's fields in config/pinback.yaml, besides the ones every target has."""

    kind: Literal["ssm-parameter"]
    parameter: str = Field(
        pattern=r"^[A-Za-z0-9_.\-/]{1,1011}$",
        description="the parameter's name, e.g. /leh/ai-worker/model",
    )


Value = Annotated[str, Field(min_length=1, max_length=4096)]


class SsmParameterPin(PinBase):
    """A pin entry: the value to hold, and values that must never be set. The version
    field's description is how pinback's errors say what it expects."""

    value: Value | None = Field(None, description='the parameter\'s value as text, e.g. "v2"')
    deny: list[Value] = Field(default_factory=list, description="values that must not be set")


class SsmParameterDriver(AwsDriver[SsmParameterTarget]):
    """Every ``ssm-parameter`` target of a config; one instance serves them all."""

    kind = NAME
    _ssm = Client("ssm")

    def __init__(self, targets: Mapping[str, SsmParameterTarget], context: DriverContext) -> None:
        super().__init__(targets, context.clients, context.concurrency)

    def observe(self, targets: Sequence[str]) -> dict[str, Observed]:
        """Ten parameters a ``GetParameters`` call, the calls made at once."""
        names = sorted({self.targets[t].parameter for t in targets})
        batches = [names[i : i + BATCH] for i in range(0, len(names), BATCH)]
        found: dict[str, dict[str, Any]] = {}
        for answer in fan_out(
            lambda batch: self._ssm.get_parameters(Names=batch), batches, self.workers
        ):
            found.update({p["Name"]: p for p in answer.get("Parameters", [])})
        return {t: _observed(t, found.get(self.targets[t].parameter)) for t in targets}

    def preflight(self, target: str, pin: Pin, observed: Observed) -> Resolved:
        """Any value can be written; its rank says whether that is a step back: the newest
        version in the history that held it, or one past the live one for a new value."""
        assert pin.version is not None
        if observed.live == pin.version:
            return Resolved(target, pin.version, rank=observed.rank)
        held = [h for h in self._history(target) if h["Value"] == pin.version]
        if held:
            return Resolved(target, pin.version, rank=float(held[0]["Version"]))
        return Resolved(target, pin.version, rank=(observed.rank or 0.0) + 1)

    def apply(self, target: str, action: Action, progress: Progress) -> Started:
        """``PutParameter`` with overwrite: setting the same value twice is harmless (SSM
        records a new version; the value is what is pinned)."""
        name = self.targets[target].parameter
        progress(target, f"put_parameter {name} = {action.to_version!r}")
        new = {"Type": "String"} if action.from_version is None else {}
        self._ssm.put_parameter(Name=name, Value=action.to_version, Overwrite=True, **new)
        return NOTHING_STARTED

    def wait(self, target: str, action: Action, waiting: Waiting) -> None:
        """Until the parameter reads back as the pinned value."""

        def check() -> tuple[bool, str]:
            seen = self.observe([target])[target]
            return seen.live == action.to_version, f"value {seen.live!r}"

        wait_until(check, target, f"parameter {self.targets[target].parameter}", waiting)

    def verify(self, target: str, action: Action) -> Observed:
        return self.observe([target])[target]

    def versions(self, target: str, limit: int, seen: Observed | None = None) -> list[VersionInfo]:
        """Each value the parameter held, newest first, once (at the last time it was set)."""
        live = seen or self.observe([target])[target]
        listed: dict[str, VersionInfo] = {}
        for entry in self._history(target):
            value = entry["Value"]
            if value in listed:
                continue
            modified = entry.get("LastModifiedDate")
            listed[value] = VersionInfo(
                version=value,
                time=modified.isoformat() if modified is not None else None,
                live=value == live.live,
                detail={"parameterVersion": str(entry["Version"])},
            )
        return list(listed.values())[:limit]

    def _history(self, target: str) -> list[dict[str, Any]]:
        """Every version SSM keeps of the parameter (the last 100), newest first."""
        name = self.targets[target].parameter
        entries: list[dict[str, Any]] = []
        pages = self._ssm.get_paginator("get_parameter_history")
        for page in pages.paginate(Name=name, PaginationConfig={"PageSize": HISTORY_PAGE}):
            entries.extend(page.get("Parameters", []))
        return sorted(entries, key=lambda e: e["Version"], reverse=True)


def _observed(target: str, parameter: dict[str, Any] | None) -> Observed:
    if parameter is None:
        return Observed(target, NAME, live=None, detail={"parameter": "missing"})
    if parameter.get("Type") == "SecureString":
        return Observed(
            target,
            NAME,
            live=None,
            error=f"{parameter['Name']} is a SecureString: its value would be written into the "
            "pin file and the audit trail; pin String parameters only",
        )
    return Observed(
        target,
        NAME,
        live=parameter["Value"],
        rank=float(parameter["Version"]),
        detail={"parameterVersion": str(parameter["Version"])},
    )


KIND = TargetKind(
    name=NAME,
    target=SsmParameterTarget,
    pin=SsmParameterPin,
    pin_field="value",
    driver=SsmParameterDriver,
)
