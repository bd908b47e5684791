"""The forms every field of the two files takes: the patterns, the sentences that name them
in errors and in the JSON Schema, and the strict base model (unknown keys are errors)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from daemon.core.durations import DURATION_FORM, parse_duration

# The expected form of each field, used in error messages and in the JSON Schema.
FORMS: dict[str, str] = {
    "commit": "a git commit, 7-40 hex characters, e.g. 9f1c2ab",
    "revision:ecs": "an ECS task-definition revision, a whole number >= 1, e.g. 41",
    "revision:alembic": 'an Alembic revision id, e.g. "4b7e1c2d9a10", or "base"',
    "imageTag": "an image tag in the target's ECR repository, e.g. v1.8.2",
    "targetName": "lower-case letters, digits and dashes, e.g. ai-worker",
}
COMMIT = re.compile(r"^[0-9a-fA-F]{7,40}$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ALEMBIC_REVISION = re.compile(r"^[A-Za-z0-9_]{1,64}$")
TARGET_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _duration(value: Any) -> float:
    if not isinstance(value, str):
        raise ValueError(f"expected {DURATION_FORM} (as text)")
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration), Field(json_schema_extra={"type": "string"})]


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError("expected the name of an environment variable, e.g. DATABASE_URL")
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)
