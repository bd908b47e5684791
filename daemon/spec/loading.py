"""Loading the two files: every problem of a file collected and reported together, each with
file, line, column and the expected form, as one ``SpecError``; pin entries checked against
the kind of their target in the config."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from daemon.core.model import Kind, Pin
from daemon.errors import SpecError, SpecIssue
from daemon.spec import environments, kinds
from daemon.spec.config import Config
from daemon.spec.fields import FORMS, TARGET_NAME
from daemon.spec.pins import DesiredVersionsDocument, PinBase
from daemon.spec.yamlfile import Located, load_yaml_bytes, load_yaml_file


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config and where it came from; relative paths resolve against its folder."""

    path: Path
    model: Config
    environment: str | None = None  # the environment this is the view of, when it has any
    views: Mapping[str, Config] = field(default_factory=dict)  # every environment's view

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def environments(self) -> list[str]:
        return list(self.views)

    def select(self, wanted: str | None) -> LoadedConfig:
        """The view of environment ``wanted`` (or of the only one); this config itself when
        it declares none. ``ConfigError`` naming the choices otherwise."""
        name = environments.choose(self.environments, wanted)
        if name is None:
            return self
        return LoadedConfig(self.path, self.views[name], name, self.views)

    def resolve(self, relative: str) -> Path:
        """``relative`` against the config's folder, symlinks kept (see ``absolute``)."""
        return absolute(self.base_dir / relative)

    def kind_of(self, target: str) -> Kind:
        return Kind(self.model.targets[target].kind)

    @property
    def state_path(self) -> Path:
        return self.resolve(self.model.desired_state.path)

    def mode_of(self, target: str) -> str:
        return self.model.targets[target].mode or self.model.daemon.mode


@dataclass(frozen=True)
class DesiredState:
    """A valid pin file: the pins by target name, in file order."""

    path: Path
    environment: str | None
    pins: Mapping[str, Pin]
    raw: Mapping[str, PinBase]


def absolute(path: Path) -> Path:
    """``path`` made absolute without following symlinks.

    A Kubernetes ConfigMap volume or a git-sync checkout swaps a ``..data`` symlink to a
    new folder and deletes the old one; a path resolved through the links at start would
    point into the deleted folder for good. Kept as configured, every read follows the
    links as they are then.
    """
    return Path(os.path.abspath(path))


def load_config(path: Path) -> LoadedConfig:
    """Load and validate the config; raises ``SpecError`` listing every problem."""
    located = load_yaml_file(path, _display(path))
    try:
        model = kinds.config_type().model_validate(_require_mapping(located))
    except ValidationError as exc:
        raise SpecError(_issues(located, exc)) from None
    issues = _check_targets(located, model)
    config = LoadedConfig(absolute(path), model)
    found, problems = environments.views(
        located,
        model,
        lambda exc, remap: _issues(located, exc, remap=remap),
        lambda relative: config.resolve(relative),
    )
    issues.extend(problems)
    if issues:
        raise SpecError(issues)
    return LoadedConfig(config.path, model, None, found)


def load_desired(
    path: Path, config: LoadedConfig, content: bytes | None = None, name: str | None = None
) -> DesiredState:
    """Load the pin file and check each entry against its target's kind in ``config``.

    ``content`` gives the file's bytes when they come from elsewhere than ``path`` (a git
    ref), and ``name`` how errors should name it (``origin/main:state/pins.yaml``).
    """
    shown = name or _display(path)
    located = (
        load_yaml_bytes(content, shown) if content is not None else load_yaml_file(path, shown)
    )
    data = _require_mapping(located)
    issues: list[SpecIssue] = []
    raw_spec = data.get("spec") if isinstance(data, dict) else None
    top = {**data, "spec": {}} if isinstance(raw_spec, dict) else data
    try:
        document = DesiredVersionsDocument.model_validate(top)
    except ValidationError as exc:
        issues.extend(_issues(located, exc))
        document = None
    pins: dict[str, Pin] = {}
    raw: dict[str, PinBase] = {}
    for name, entry in (raw_spec or {}).items() if isinstance(raw_spec, dict) else ():
        target = config.model.targets.get(name)
        if target is None:
            declared = ", ".join(sorted(config.model.targets)) or "none"
            issues.append(
                located.issue(
                    ("spec", name),
                    f"target {name!r} is not declared in {_display(config.path)} "
                    f"(declared: {declared})",
                )
            )
            continue
        kind = Kind(target.kind)
        model_type = kinds.installed().get(kind).pin
        try:
            pin_model = model_type.model_validate(entry if entry is not None else {})
        except ValidationError as exc:
            issues.extend(_issues(located, exc, prefix=("spec", name), kind=kind))
            continue
        pin = _pin(kind, pin_model)
        if pin.version is None and not pin.suspend:
            issues.append(
                located.issue(
                    ("spec", name),
                    f"spec.{name}: missing {_pin_field(kind)}: expected "
                    f"{_form(kind, _pin_field(kind))} (or suspend: true)",
                )
            )
            continue
        pins[name] = pin
        raw[name] = pin_model
    if issues:
        raise SpecError(issues)
    environment = document.metadata.environment if document else None
    return DesiredState(absolute(path), environment, pins, raw)


def _pin(kind: Kind, model: PinBase) -> Pin:
    described = kinds.installed().get(kind)
    denied = tuple(described.canonical(v) for v in getattr(model, "deny", ()))
    return Pin(
        version=kinds.version_of(described, model),
        suspend=model.suspend,
        allow_destructive=getattr(model, "allow_destructive", False),
        override=model.override,
        reason=model.reason,
        denied=denied,
    )


def _require_mapping(located: Located) -> dict[str, Any]:
    if not isinstance(located.data, dict):
        raise SpecError([located.issue((), "expected a mapping with apiVersion, kind and spec")])
    return located.data


def _check_targets(located: Located, model: Config) -> list[SpecIssue]:
    """Cross-field checks pydantic cannot express: names, ``after`` references and cycles."""
    issues: list[SpecIssue] = []
    names = set(model.targets)
    for name, target in model.targets.items():
        if not TARGET_NAME.match(name):
            issues.append(
                located.issue(
                    ("targets", name), f"target name {name!r}: expected {FORMS['targetName']}"
                )
            )
        for index, other in enumerate(target.after or []):
            if other not in names:
                issues.append(
                    located.issue(
                        ("targets", name, "after", index),
                        f"targets.{name}.after: {other!r} is not a target in this file",
                    )
                )
            elif other == name:
                issues.append(
                    located.issue(
                        ("targets", name, "after", index), f"targets.{name} is after itself"
                    )
                )
    cycle = _find_cycle({n: list(t.after or []) for n, t in model.targets.items()})
    if cycle:
        issues.append(
            located.issue(
                ("targets", cycle[0], "after"),
                "targets.*.after forms a cycle: " + " -> ".join([*cycle, cycle[0]]),
            )
        )
    return issues


def _find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if nxt not in edges or nxt == node:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _pin_field(kind: Kind) -> str:
    return kinds.installed().get(kind).pin_field


def _form(kind: Kind | None, field_name: str) -> str:
    """The expected form of ``field_name``; for a plug-in's pin field, its own description."""
    if kind is not None and f"{field_name}:{kind}" in FORMS:
        return FORMS[f"{field_name}:{kind}"]
    if field_name in FORMS:
        return FORMS[field_name]
    if kind is not None and kind in kinds.installed().usable and field_name == _pin_field(kind):
        return kinds.installed().get(kind).form() or field_name
    return field_name


def _issues(
    located: Located,
    exc: ValidationError,
    prefix: tuple[str, ...] = (),
    kind: Kind | None = None,
    remap: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None,
) -> list[SpecIssue]:
    """Turn pydantic's errors into positioned sentences with the expected form; ``remap``
    says where in the file an error's location was written."""
    issues = []
    for error in exc.errors(include_url=False):
        loc = tuple(str(p) if not isinstance(p, int) else p for p in error["loc"])
        if remap is not None:
            loc = remap(loc)
        if error["type"] == "union_tag_invalid":
            loc = (*loc, "kind")
            error["input"] = error.get("ctx", {}).get("tag")
        path = _in_file(located, (*prefix, *loc))
        dotted = ".".join(str(p) for p in path) or "(top)"
        issues.append(located.issue(path, f"{dotted}: {_sentence(error, kind)}"))
    return issues


def _in_file(located: Located, path: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the parts pydantic adds that are not in the file (union tags), keeping the last."""
    kept: tuple[Any, ...] = ()
    for index, part in enumerate(path):
        if (*kept, part) in located.positions or index == len(path) - 1:
            kept = (*kept, part)
    return kept


def _sentence(error: Any, kind: Kind | None) -> str:
    kind_name = error["type"]
    loc = error["loc"]
    last = str(loc[-1]) if loc else ""
    if kind is not None and len(loc) >= 2 and loc[-2] == "deny":
        last = _pin_field(kind)  # a deny: entry takes the form of the pin field
    if kind_name == "extra_forbidden":
        if kind is not None:
            allowed = [
                f.alias or n
                for n, f in kinds.installed().get(kind).pin.model_fields.items()
                if n != "model_config"
            ]
            return f"unknown key for a {kind.value} target; expected one of: {', '.join(allowed)}"
        return "unknown key"
    if kind_name == "missing":
        known = _form(kind, last)
        return f"missing; expected {known}" if known != last else "missing"
    broken = kinds.installed().broken.get(str(error.get("input")))
    if kind_name == "union_tag_invalid" and broken is not None:
        return broken
    if kind_name in ("literal_error", "union_tag_invalid"):
        expected = error.get("ctx", {}).get("expected") or error.get("ctx", {}).get(
            "expected_tags", ""
        )
        return f"expected one of {expected}, got {error.get('input')!r}"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if error["type"] not in ("value_error", "assertion_error") and "input" in error:
        shown = error["input"]
        if not isinstance(shown, dict | list):
            message = f"{message}, got {shown!r}"
    form = _form(kind, last)
    if form != last and form not in message:
        return f"{message}; expected {form}"
    return message


def _display(path: Path) -> str:
    """The path as a person typed it, relative to the working folder when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def json_schemas() -> dict[str, Any]:
    """JSON Schemas of both files, for editors (``pinback schema``; ``schema/`` holds them
    for the modeline of the shipped files). Draft-07, which yaml-language-server reads."""
    pin_defs = {
        name: model.model_json_schema(by_alias=True)
        for name, model in kinds.installed().pin_models().items()
    }
    desired = DesiredVersionsDocument.model_json_schema(by_alias=True)
    desired["properties"]["spec"] = {
        "type": "object",
        "description": "one entry per target of config/pinback.yaml; its fields depend on the kind",
        "additionalProperties": {"anyOf": list(pin_defs.values())},
    }
    config = kinds.config_type().model_json_schema(by_alias=True)
    return {"config": _draft_07(config), "desiredVersions": _draft_07(desired)}


def _draft_07(schema: dict[str, Any]) -> dict[str, Any]:
    """pydantic writes JSON Schema 2020-12: every ``$defs``, wherever nested, becomes the
    root's ``definitions`` and every reference points there."""
    definitions: dict[str, Any] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, str):  # a $ref, or a discriminator's mapping
            return node.replace("#/$defs/", "#/definitions/")
        if not isinstance(node, dict):
            return node
        for name, definition in node.get("$defs", {}).items():
            definitions[name] = walk(definition)
        return {k: walk(v) for k, v in node.items() if k != "$defs"}

    body = walk(schema)
    return {"$schema": DRAFT_07, **body, **({"definitions": definitions} if definitions else {})}
