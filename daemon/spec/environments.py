"""Environments (DESIGN section 10): one config, several copies of the service.

Each environment is the config seen through its own pin file, AWS settings and target
overrides: a complete ``Config`` of its own (a *view*), built from the file's text with the
environment's fields laid over the shared ones and validated as a whole, so an override
that breaks a target is reported where it was written. Everything below a view (the
engine, the drivers, the planner) knows nothing of environments.

A config without ``environments:`` has no views and behaves as it always did.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from daemon.errors import ConfigError, SpecIssue
from daemon.spec import kinds
from daemon.spec.config import Config
from daemon.spec.fields import TARGET_NAME
from daemon.spec.yamlfile import Located

Issues = Callable[[ValidationError, Callable[[tuple[Any, ...]], tuple[Any, ...]]], list[SpecIssue]]


def views(
    located: Located, model: Config, issues_of: Issues, resolve: Callable[[str], object]
) -> tuple[dict[str, Config], list[SpecIssue]]:
    """Each environment's own config, and every problem found building them."""
    if not model.environments:
        return {}, []
    data: dict[str, Any] = located.data
    found: dict[str, Config] = {}
    problems: list[SpecIssue] = []
    pin_files: dict[object, str] = {}
    for name, settings in model.environments.items():
        where = ("environments", name)
        if not TARGET_NAME.match(name):
            problems.append(
                located.issue(
                    where,
                    f"environment name {name!r}: expected lower-case letters, digits and dashes",
                )
            )
            continue
        pins = resolve(settings.pins)
        if pins in pin_files:
            problems.append(
                located.issue(
                    (*where, "pins"),
                    f"environments.{name}.pins: {settings.pins} is also the pin file of "
                    f"environment {pin_files[pins]}; each environment needs its own",
                )
            )
            continue
        pin_files[pins] = name
        overrides: dict[str, dict[str, object]] = {}
        for target, fields in settings.targets.items():
            if target not in model.targets:
                problems.append(
                    located.issue(
                        (*where, "targets", target),
                        f"environments.{name}.targets: {target!r} is not a target of this "
                        f"config (targets: {', '.join(model.targets)})",
                    )
                )
            elif "kind" in fields:
                problems.append(
                    located.issue(
                        (*where, "targets", target, "kind"),
                        f"environments.{name}.targets.{target}.kind: a target is of one kind "
                        "in every environment (declare another target instead)",
                    )
                )
            else:
                overrides[target] = fields
        laid = {**settings.model_dump(by_alias=True, exclude_unset=True), "targets": overrides}
        raw = _laid_over(data, name, laid)
        try:
            found[name] = kinds.config_type().model_validate(raw)
        except ValidationError as exc:
            overridden = {t: set(fields) for t, fields in overrides.items()}
            problems.extend(issues_of(exc, functools.partial(_written_at, name, overridden)))
    return found, problems


def _laid_over(data: Mapping[str, Any], name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The config's text with environment ``name``'s fields laid over it."""
    raw = {k: v for k, v in data.items() if k != "environments"}
    aws = {**(raw.get("aws") or {}), **{k: v for k, v in (settings.get("aws") or {}).items()}}
    state = {**(raw.get("desiredState") or {}), "path": settings["pins"]}
    targets = {
        target: {**fields, **((settings.get("targets") or {}).get(target) or {})}
        for target, fields in (raw.get("targets") or {}).items()
    }
    return {**raw, "aws": aws, "desiredState": state, "targets": targets}


def _written_at(
    name: str, overridden: Mapping[str, set[str]], loc: tuple[Any, ...]
) -> tuple[Any, ...]:
    """Where in the file a problem of environment ``name``'s merged config was written: in
    the environment when it overrides that field, else where the shared config has it."""
    fields = overridden.get(str(loc[1]), set()) if len(loc) >= 3 and loc[0] == "targets" else set()
    if fields.intersection(str(part) for part in loc[2:4]):  # loc[2] may be the kind's tag
        return ("environments", name, *loc)
    if loc and loc[0] == "aws":
        return ("environments", name, *loc)
    return loc


def choose(names: list[str], wanted: str | None) -> str | None:
    """The environment a command acts on: ``wanted``, or the only one; None without any."""
    if not names:
        if wanted is not None:
            raise ConfigError(f"--env {wanted}: this config declares no environments")
        return None
    if wanted is None:
        if len(names) == 1:
            return names[0]
        raise ConfigError(
            f"this config declares the environments {', '.join(names)}: choose one with --env"
        )
    if wanted not in names:
        raise ConfigError(f"no environment named {wanted!r} (environments: {', '.join(names)})")
    return wanted
