"""Every target kind this process knows: the four built in, and those installed plug-ins
declare in the entry point group ``pinback.drivers`` (DESIGN section 11).

A kind is what the files need to know of it (the config model of its targets, the pin model
and the name of its version field) and how to make its driver. The built-in kinds' drivers
are made by the engine (``daemon.engine.drivers``), which sits above this layer; a plug-in
hands its driver's factory in with its models.

Plug-ins are loaded once per process, on first use. One that cannot be loaded (an import
error, an object that is not a ``TargetKind``, a model that does not match its name) is kept
aside with one sentence naming its distribution: a config that uses its kind fails on that
sentence, and every other config, built-in kinds included, keeps working.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args

from pydantic import BaseModel, Field, create_model

from daemon.core.model import BUILT_IN_KINDS, Kind
from daemon.spec.config import (
    AlembicTarget,
    Config,
    EcsTarget,
    FrontendTarget,
    LambdaTarget,
    TargetBase,
)
from daemon.spec.pins import AlembicPin, EcsPin, FrontendPin, LambdaPin, PinBase

GROUP = "pinback.drivers"
KIND_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
DRIVER_METHODS = ("observe", "preflight", "apply", "wait", "verify", "versions")


@dataclass(frozen=True)
class TargetKind:
    """One kind of target, as a plug-in declares it (its entry point's object) and as the
    built-in kinds are described.

    - ``target``: the pydantic model of a target's config fields, a ``TargetBase`` subclass
      whose ``kind`` field is ``Literal[name]``.
    - ``pin``: the model of its pin entry, a ``PinBase`` subclass with the version field
      (written ``pin_field`` in the file) and ``deny``, a list of the same form.
    - ``driver``: ``driver(targets, context) -> Driver``, called once per process with every
      target of the kind by name (``daemon.drivers.base.DriverContext``). None for the
      built-in kinds, whose drivers the engine makes.
    - ``canonical``: the version as text from the pin field's value (how ``deny`` and the
      live version compare).
    """

    name: str
    target: type[TargetBase]
    pin: type[PinBase]
    pin_field: str
    driver: Callable[[Mapping[str, Any], Any], Any] | None = None
    canonical: Callable[[Any], str] = str
    distribution: str = field(default="pinback", compare=False)  # who provides it

    def pin_attribute(self) -> str:
        """The pin model's attribute behind ``pin_field`` (written ``imageTag``, read
        ``image_tag``)."""
        for attribute, info in self.pin.model_fields.items():
            if (info.alias or attribute) == self.pin_field:
                return attribute
        raise LookupError(self.pin_field)

    def form(self) -> str | None:
        """The version field's own description (how a plug-in's errors say what it wants)."""
        info = self.pin.model_fields.get(self.pin_attribute())
        return info.description if info is not None else None


def _lower(value: Any) -> str:
    return str(value).lower()


BUILT_IN: dict[str, TargetKind] = {
    Kind.FRONTEND: TargetKind(Kind.FRONTEND, FrontendTarget, FrontendPin, "commit", None, _lower),
    Kind.ECS: TargetKind(Kind.ECS, EcsTarget, EcsPin, "revision"),
    Kind.LAMBDA: TargetKind(Kind.LAMBDA, LambdaTarget, LambdaPin, "imageTag"),
    Kind.ALEMBIC: TargetKind(Kind.ALEMBIC, AlembicTarget, AlembicPin, "revision"),
}
assert tuple(BUILT_IN) == BUILT_IN_KINDS


@dataclass(frozen=True)
class Kinds:
    """The kinds this process can use, and the plug-ins that failed to load, by kind name."""

    usable: Mapping[str, TargetKind]
    broken: Mapping[str, str] = field(default_factory=dict)

    def get(self, kind: str) -> TargetKind:
        return self.usable[kind]

    def pin_models(self) -> dict[str, type[PinBase]]:
        return {name: kind.pin for name, kind in self.usable.items()}


@functools.cache
def installed() -> Kinds:
    """The built-in kinds and every installed plug-in's, loaded once per process."""
    usable = dict(BUILT_IN)
    broken: dict[str, str] = {}
    for entry in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: e.name):
        found, problem = load(entry)
        if found is not None:
            usable[entry.name] = found
        else:
            broken[entry.name] = problem
    return Kinds(usable, broken)


def load(entry: importlib.metadata.EntryPoint) -> tuple[TargetKind | None, str]:
    """One plug-in's kind, or None and the sentence saying why it cannot be used."""
    who = _distribution(entry)
    try:
        problem = _problem(entry)
        if problem is None:
            loaded = entry.load()
            problem = _wrong_shape(entry.name, loaded)
    except Exception as exc:  # a plug-in's import may raise anything; report, don't crash
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        return None, (
            f"the plug-in for kind {entry.name!r} ({who}, entry point {entry.value}) "
            f"cannot be used: {problem}"
        )
    kind: TargetKind = loaded
    return TargetKind(
        Kind(kind.name), kind.target, kind.pin, kind.pin_field, kind.driver, kind.canonical, who
    ), ""


def _distribution(entry: importlib.metadata.EntryPoint) -> str:
    dist = entry.dist
    return f"distribution {dist.name} {dist.version}" if dist is not None else "a distribution"


def _problem(entry: importlib.metadata.EntryPoint) -> str | None:
    """What is wrong with the entry point itself, before its code is imported."""
    if entry.name in BUILT_IN:
        return f"{entry.name!r} is a built-in kind; a plug-in cannot replace it"
    if not KIND_NAME.match(entry.name):
        return "a kind's name is lower-case letters, digits and dashes, e.g. ssm-parameter"
    return None


def _wrong_shape(name: str, loaded: Any) -> str | None:
    """What is wrong with a plug-in's object, checked before anything uses it."""
    if not isinstance(loaded, TargetKind):
        return f"its object is a {type(loaded).__name__}, not a daemon.plugin.TargetKind"
    if loaded.name != name:
        return f"it calls its kind {loaded.name!r}, but its entry point is named {name!r}"
    if not (isinstance(loaded.target, type) and issubclass(loaded.target, TargetBase)):
        return "its target model is not a subclass of daemon.plugin.TargetBase"
    tag = loaded.target.model_fields.get("kind")
    if tag is None or get_args(tag.annotation) != (name,):
        return f"its target model's kind field must be Literal[{name!r}]"
    if not (isinstance(loaded.pin, type) and issubclass(loaded.pin, PinBase)):
        return "its pin model is not a subclass of daemon.plugin.PinBase"
    try:
        loaded.pin_attribute()
    except LookupError:
        return f"its pin model has no field {loaded.pin_field!r} (its pin_field)"
    if "deny" not in loaded.pin.model_fields:
        return "its pin model has no deny field"
    if not callable(loaded.driver):
        return "it names no driver factory"
    if isinstance(loaded.driver, type):
        missing = [m for m in DRIVER_METHODS if not callable(getattr(loaded.driver, m, None))]
        if missing:
            return f"its driver {loaded.driver.__name__} lacks {', '.join(missing)}"
    return None


def missing_methods(driver: object) -> list[str]:
    """The driver methods a made driver lacks (a factory's product, checked once made)."""
    return [m for m in DRIVER_METHODS if not callable(getattr(driver, m, None))]


def version_of(kind: TargetKind, model: BaseModel) -> str | None:
    value = getattr(model, kind.pin_attribute())
    return None if value is None else kind.canonical(value)


@functools.cache
def config_type() -> type[Config]:
    """The config's model with every usable kind's target model in ``targets``: ``Config``
    itself when no plug-in is installed."""
    extra = tuple(k.target for n, k in installed().usable.items() if n not in BUILT_IN)
    if not extra:
        return Config
    members = (*(k.target for k in BUILT_IN.values()), *extra)
    target = Annotated[Union[members], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
    made: type[Config] = create_model("Config", __base__=Config, targets=(dict[str, target], ...))
    return made
