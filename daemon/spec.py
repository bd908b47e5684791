"""The two files people write: the config (targets, settings) and the pin file.

Strict pydantic v2 models. Loading collects every problem of a file and reports them
together, each with file, line, column and the expected form, as one ``SpecError``.
Pin entries are checked against the kind of their target in the config, so a
``revision`` under a Lambda target is an error that says which field it wanted.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from daemon.durations import DURATION_FORM, parse_duration
from daemon.errors import ConfigError, SpecError, SpecIssue
from daemon.freeze import Window, parse_cron
from daemon.model import Kind, Pin
from daemon.yamlfile import Located, load_yaml_bytes, load_yaml_file

# The expected form of each field, used in error messages and in the JSON Schema.
FORMS: dict[str, str] = {
    "commit": "a git commit, 7-40 hex characters, e.g. 9f1c2ab",
    "revision:ecs": "an ECS task-definition revision, a whole number >= 1, e.g. 41",
    "revision:alembic": 'an Alembic revision id, e.g. "4b7e1c2d9a10", or "base"',
    "imageTag": "an image tag in the target's ECR repository, e.g. v1.8.2",
    "targetName": "lower-case letters, digits and dashes, e.g. ai-worker",
}
_COMMIT = re.compile(r"^[0-9a-fA-F]{7,40}$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ALEMBIC_REV = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_TARGET_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$")
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


# ----------------------------------------------------------------------------- config


class AwsSettings(Strict):
    region: str = Field(description="AWS region; the endpoint comes from AWS_ENDPOINT_URL when set")


class DaemonSettings(Strict):
    mode: Literal["auto", "observe"] = "auto"
    resync_interval: Duration = Field(30.0, alias="resyncInterval")
    concurrency: int = Field(8, ge=1, le=256)
    listen: str = "127.0.0.1:9464"
    # How long SIGTERM waits for running steps to reach a safe point before the process
    # exits anyway; keep it under the supervisor's own kill timeout.
    shutdown_grace: Duration = Field(30.0, alias="shutdownGrace")
    # How long the pass loop may go without turning before /healthz answers 503, so a
    # liveness probe restarts a controller stuck on a call that never returns.
    liveness_timeout: Duration = Field(60.0, alias="livenessTimeout")


class AuditSettings(Strict):
    url: str | None = None
    url_env: EnvName | None = Field(None, alias="urlEnv")


class LeadershipSettings(Strict):
    url_env: EnvName = Field(alias="urlEnv")
    lease_seconds: int = Field(15, alias="leaseSeconds", ge=3, le=600)
    shards: int = Field(1, ge=1, le=1024)


class FreezeWindow(Strict):
    start: dt.datetime | None = Field(None, alias="from", strict=False)
    end: dt.datetime | None = Field(None, alias="to", strict=False)
    cron: str | None = None
    duration: Duration | None = None
    timezone: str | None = None  # IANA name for the cron's clock; UTC when absent

    @model_validator(mode="after")
    def _one_form(self) -> FreezeWindow:
        absolute = self.start is not None and self.end is not None
        recurring = self.cron is not None and self.duration is not None
        if absolute == recurring:
            raise ValueError("a freeze window is either {from, to} or {cron, duration}")
        for moment in (self.start, self.end):
            if moment is not None and moment.tzinfo is None:
                raise ValueError('freeze times need a time zone, e.g. "2026-12-24T00:00:00Z"')
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("a freeze window must end after it starts")
        if self.cron is not None:
            parse_cron(self.cron)
        if self.timezone is not None:
            if self.cron is None:
                raise ValueError("timezone goes with a cron window; from/to carry their own offset")
            _zone(self.timezone)
        return self

    def window(self) -> Window:
        if self.cron is not None:
            return Window(
                cron=parse_cron(self.cron),
                cron_text=self.cron,
                duration_s=self.duration or 0.0,
                zone=_zone(self.timezone) if self.timezone else None,
            )
        return Window(start=self.start, end=self.end)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; expected an IANA name such as Asia/Seoul or UTC"
        ) from None


class GitSource(Strict):
    repo: str = "."
    ref: str = "origin/main"
    poll_interval: Duration = Field(15.0, alias="pollInterval")
    webhook_secret_env: EnvName | None = Field(None, alias="webhookSecretEnv")


class DesiredStateSettings(Strict):
    path: str = "../state/desired-versions.yaml"
    git: GitSource | None = None


class Webhook(Strict):
    url_env: EnvName = Field(alias="urlEnv")
    events: list[Literal["applied", "failed", "drift", "blocked", "health_failed"]]
    secret_env: EnvName | None = Field(None, alias="secretEnv")


class NotifySettings(Strict):
    webhooks: list[Webhook] = []


class HealthSettings(Strict):
    url: str | None = None
    status: int = Field(200, ge=100, le=599)
    expect: str | None = None
    cloudwatch_alarms: list[str] = Field([], alias="cloudwatchAlarms")
    bake_time: Duration = Field(0.0, alias="bakeTime")
    command: str | None = None
    timeout: Duration = 120.0
    on_failure: Literal["hold", "revert"] = Field("hold", alias="onFailure")


class BuildSettings(Strict):
    repo: str = "."
    workdir: str = "."
    command: str
    output: str
    timeout: Duration = 1800.0


class TargetBase(Strict):
    owner: str | None = None
    urgency: Literal["low", "medium", "high", "critical"] = "medium"
    after: list[str] | None = None
    mode: Literal["auto", "observe"] | None = None
    timeout: Duration = Field(600.0, description="how long to wait for the change to take")
    health: HealthSettings | None = None


class FrontendTarget(TargetBase):
    kind: Literal["frontend"]
    bucket: str
    distribution_id: str | None = Field(None, alias="distributionId")
    distribution_id_env: EnvName | None = Field(None, alias="distributionIdEnv")
    artifacts: str = Field(description="s3://BUCKET/PREFIX/{commit}/ where each build's files lie")
    build: BuildSettings | None = None

    @model_validator(mode="after")
    def _artifacts_form(self) -> FrontendTarget:
        if not re.match(r"^s3://[^/]+/(.*/)?\{commit\}/$", self.artifacts):
            raise ValueError("artifacts must look like s3://BUCKET/PREFIX/{commit}/")
        return self


class CodeDeploySettings(Strict):
    """Where a blue/green (``CODE_DEPLOY``) ECS service is deployed: pinback rolls it back
    with a CodeDeploy deployment, as AWS requires for such a service."""

    application: str
    deployment_group: str = Field(alias="deploymentGroup")
    container_name: str | None = Field(None, alias="containerName")  # else the service's
    container_port: int | None = Field(None, alias="containerPort")  # load balancer's


class EcsTarget(TargetBase):
    kind: Literal["ecs"]
    cluster: str
    service: str
    family: str | None = None
    code_deploy: CodeDeploySettings | None = Field(None, alias="codeDeploy")


class LambdaTarget(TargetBase):
    kind: Literal["lambda"]
    function: str
    repository: str
    alias: str | None = None


class AlembicTarget(TargetBase):
    kind: Literal["alembic"]
    url_env: EnvName = Field(alias="urlEnv")
    script_location: str = Field(alias="scriptLocation")
    lock_timeout: Duration = Field(60.0, alias="lockTimeout")


Target = Annotated[
    FrontendTarget | EcsTarget | LambdaTarget | AlembicTarget, Field(discriminator="kind")
]


class Config(Strict):
    api_version: Literal["pinback/v1"] = Field(alias="apiVersion")
    kind: Literal["Config"]
    aws: AwsSettings
    daemon: DaemonSettings = DaemonSettings()
    audit: AuditSettings = AuditSettings()
    leadership: LeadershipSettings | None = None
    freeze: list[FreezeWindow] = []
    desired_state: DesiredStateSettings = Field(DesiredStateSettings(), alias="desiredState")
    notify: NotifySettings = NotifySettings()
    targets: dict[str, Target]


# ----------------------------------------------------------------------------- pin file


class PinBase(Strict):
    suspend: bool = False
    reason: str | None = Field(None, max_length=1000)
    override: bool = False


def _text_version(field_name: str, pattern: re.Pattern[str]) -> Any:
    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str):
            raise ValueError(
                f'expected {FORMS[field_name]} as text; quote it: {field_name}: "{value}"'
            )
        if not pattern.match(value):
            raise ValueError(f"expected {FORMS[field_name]}, got {value!r}")
        return value

    return BeforeValidator(check)


def _alembic_revision(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f'expected {FORMS["revision:alembic"]} as text; quote it: "{value}"')
    if not _ALEMBIC_REV.match(value) or value == "head":
        raise ValueError(f"expected {FORMS['revision:alembic']}, got {value!r}")
    return value


class FrontendPin(PinBase):
    commit: Annotated[str, _text_version("commit", _COMMIT)] | None = None


class EcsPin(PinBase):
    revision: int | None = Field(None, ge=1, description=FORMS["revision:ecs"])


class LambdaPin(PinBase):
    image_tag: Annotated[str, _text_version("imageTag", _IMAGE_TAG)] | None = Field(
        None, alias="imageTag"
    )


class AlembicPin(PinBase):
    revision: Annotated[str, BeforeValidator(_alembic_revision)] | None = None
    allow_destructive: bool = Field(False, alias="allowDestructive")

    @model_validator(mode="after")
    def _base_needs_permission(self) -> AlembicPin:
        if self.revision == "base" and not self.allow_destructive:
            raise ValueError('revision "base" drops every table; it needs allowDestructive: true')
        return self


PIN_MODELS: dict[Kind, type[PinBase]] = {
    Kind.FRONTEND: FrontendPin,
    Kind.ECS: EcsPin,
    Kind.LAMBDA: LambdaPin,
    Kind.ALEMBIC: AlembicPin,
}
PIN_FIELD: dict[Kind, str] = {
    Kind.FRONTEND: "commit",
    Kind.ECS: "revision",
    Kind.LAMBDA: "imageTag",
    Kind.ALEMBIC: "revision",
}


class Metadata(Strict):
    environment: str | None = None
    labels: dict[str, str] = {}


class DesiredVersionsDocument(Strict):
    """The top of the pin file; ``spec`` entries are validated per kind afterwards."""

    api_version: Literal["pinback/v1"] = Field(alias="apiVersion")
    kind: Literal["DesiredVersions"]
    metadata: Metadata = Metadata()
    spec: dict[str, dict[str, Any]] = {}


# ----------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config and where it came from; relative paths resolve against its folder."""

    path: Path
    model: Config

    @property
    def base_dir(self) -> Path:
        return self.path.parent

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

    def audit_url(self) -> str:
        """Where the audit trail lives: ``PINBACK_AUDIT_URL``, else ``audit.urlEnv``'s
        variable, else ``audit.url``, else ``.pinback/audit.db`` beside the config."""
        settings = self.model.audit
        url = os.environ.get("PINBACK_AUDIT_URL")
        if not url and settings.url_env:
            url = os.environ.get(settings.url_env)
            if not url:
                raise ConfigError(
                    f"environment variable {settings.url_env} (audit.urlEnv) is not set"
                )
        return url or settings.url or "sqlite:///.pinback/audit.db"


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
        model = Config.model_validate(_require_mapping(located))
    except ValidationError as exc:
        raise SpecError(_issues(located, exc)) from None
    issues = _check_targets(located, model)
    if issues:
        raise SpecError(issues)
    return LoadedConfig(absolute(path), model)


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
        model_type = PIN_MODELS[kind]
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
                    f"spec.{name}: missing {PIN_FIELD[kind]}: expected "
                    f"{_form(kind, PIN_FIELD[kind])} (or suspend: true)",
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
    version: str | None
    if isinstance(model, FrontendPin):
        version = model.commit.lower() if model.commit else None
    elif isinstance(model, EcsPin):
        version = str(model.revision) if model.revision is not None else None
    elif isinstance(model, LambdaPin):
        version = model.image_tag
    elif isinstance(model, AlembicPin):
        version = model.revision
    else:  # pragma: no cover - PIN_MODELS is exhaustive
        raise TypeError(kind)
    return Pin(
        version=version,
        suspend=model.suspend,
        allow_destructive=getattr(model, "allow_destructive", False),
        override=model.override,
        reason=model.reason,
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
        if not _TARGET_NAME.match(name):
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


def _form(kind: Kind | None, field_name: str) -> str:
    if field_name == "revision" and kind is not None:
        return FORMS[f"revision:{kind.value}"]
    return FORMS.get(field_name, field_name)


def _issues(
    located: Located,
    exc: ValidationError,
    prefix: tuple[str, ...] = (),
    kind: Kind | None = None,
) -> list[SpecIssue]:
    """Turn pydantic's errors into positioned sentences with the expected form."""
    issues = []
    for error in exc.errors(include_url=False):
        loc = tuple(str(p) if not isinstance(p, int) else p for p in error["loc"])
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
    if kind_name == "extra_forbidden":
        if kind is not None:
            allowed = [
                f.alias or n
                for n, f in PIN_MODELS[kind].model_fields.items()
                if n != "model_config"
            ]
            return f"unknown key for a {kind.value} target; expected one of: {', '.join(allowed)}"
        return "unknown key"
    if kind_name == "missing":
        return f"missing; expected {_form(kind, last)}" if last in FORMS else "missing"
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
    form = _form(kind, last) if (last in FORMS or last == "revision") else None
    if form and form not in message:
        return f"{message}; expected {form}"
    return message


def _display(path: Path) -> str:
    """The path as a person typed it, relative to the working folder when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def json_schemas() -> dict[str, Any]:
    """JSON Schemas of both files, for editors (``pinback schema``)."""
    pin_defs = {
        kind.value: model.model_json_schema(by_alias=True) for kind, model in PIN_MODELS.items()
    }
    desired = DesiredVersionsDocument.model_json_schema(by_alias=True)
    desired["properties"]["spec"] = {
        "type": "object",
        "description": "one entry per target of config/pinback.yaml; its fields depend on the kind",
        "additionalProperties": {"anyOf": list(pin_defs.values())},
    }
    return {"config": Config.model_json_schema(by_alias=True), "desiredVersions": desired}
