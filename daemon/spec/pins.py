"""The pin file (``state/desired-versions.yaml``): one model per target kind, so a
``revision`` under a Lambda target is an error naming the field it wanted."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    model_validator,
)

from daemon.spec.fields import ALEMBIC_REVISION, COMMIT, FORMS, IMAGE_TAG, Strict


class PinBase(Strict):
    suspend: bool = False
    reason: str | None = Field(None, max_length=1000)
    override: bool = False


# The validators are module-level functions named in the field types, not closures made
# when the models are built at import: what they check runs, and is tested (and mutated by
# ``make mutate``), at validation time.


def _commit(value: Any) -> str:
    return _check_text("commit", COMMIT, value)


def _image_tag(value: Any) -> str:
    return _check_text("imageTag", IMAGE_TAG, value)


def _check_text(field_name: str, pattern: re.Pattern[str], value: Any) -> str:
    """A version field written as text in ``pattern``'s form."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f'expected {FORMS[field_name]} as text; quote it: {field_name}: "{value}"')
    if not pattern.match(value):
        raise ValueError(f"expected {FORMS[field_name]}, got {value!r}")
    return value


def _alembic_revision(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f'expected {FORMS["revision:alembic"]} as text; quote it: "{value}"')
    if not ALEMBIC_REVISION.match(value) or value == "head":
        raise ValueError(f"expected {FORMS['revision:alembic']}, got {value!r}")
    return value


# ``deny:`` lists versions that must never be applied to the target (a known-bad build a
# CI job might pin again), each in the form of the target's pin field.
DENY_HELP = "versions that must not be applied to this target (a pin naming one is blocked)"
Commit = Annotated[str, BeforeValidator(_commit)]
EcsRevision = Annotated[int, Field(ge=1, description=FORMS["revision:ecs"])]
ImageTag = Annotated[str, BeforeValidator(_image_tag)]
AlembicRevision = Annotated[str, BeforeValidator(_alembic_revision)]


class FrontendPin(PinBase):
    commit: Commit | None = None
    deny: list[Commit] = Field(default_factory=list, description=DENY_HELP)


class EcsPin(PinBase):
    revision: EcsRevision | None = None
    deny: list[EcsRevision] = Field(default_factory=list, description=DENY_HELP)


class LambdaPin(PinBase):
    image_tag: ImageTag | None = Field(None, alias="imageTag")
    deny: list[ImageTag] = Field(default_factory=list, description=DENY_HELP)


class AlembicPin(PinBase):
    revision: AlembicRevision | None = None
    deny: list[AlembicRevision] = Field(default_factory=list, description=DENY_HELP)
    allow_destructive: bool = Field(False, alias="allowDestructive")

    @model_validator(mode="after")
    def _base_needs_permission(self) -> AlembicPin:
        if self.revision == "base" and not self.allow_destructive:
            raise ValueError('revision "base" drops every table; it needs allowDestructive: true')
        return self


class Metadata(Strict):
    environment: str | None = None
    labels: dict[str, str] = {}


class DesiredVersionsDocument(Strict):
    """The top of the pin file; ``spec`` entries are validated per kind afterwards."""

    api_version: Literal["pinback/v1"] = Field(alias="apiVersion")
    kind: Literal["DesiredVersions"]
    metadata: Metadata = Metadata()
    spec: dict[str, dict[str, Any]] = {}
