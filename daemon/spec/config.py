"""The config file (``config/pinback.yaml``): targets and the daemon's settings, as strict
models. Cross-field rules (a target named in ``after`` exists, no cycle) are checked when it
is loaded (``daemon.spec.loading``)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    model_validator,
)

from daemon.core.freeze import Window, parse_cron
from daemon.spec.fields import Duration, EnvName, Strict

ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$"


class AwsSettings(Strict):
    region: str = Field(description="AWS region; the endpoint comes from AWS_ENDPOINT_URL when set")
    role_arn: str | None = Field(
        None, alias="roleArn", pattern=ROLE_ARN, description="an IAM role to assume with STS"
    )


class EnvironmentAws(Strict):
    region: str | None = None
    role_arn: str | None = Field(None, alias="roleArn", pattern=ROLE_ARN)


class EnvironmentSettings(Strict):
    """One environment of the service (staging, prod): its pin file, where its AWS is, and
    the target fields that differ from the config's (checked as the merged target)."""

    pins: str = Field(description="this environment's pin file, relative to the config")
    aws: EnvironmentAws = EnvironmentAws()
    targets: dict[str, dict[str, object]] = Field({}, description="per-target field overrides")


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
    # How often the versions before the live one are checked as a rollback to each would
    # be (DESIGN §11), and how many of them; 0 turns the check off.
    readiness_interval: Duration = Field(3600.0, alias="readinessInterval")
    readiness_depth: int = Field(3, alias="readinessDepth", ge=1, le=50)
    # The bearer token every endpoint but /metrics, /healthz and /readyz needs (DESIGN §17);
    # without one, a listener beyond loopback serves those three alone.
    api_token_env: EnvName | None = Field(None, alias="apiTokenEnv")
    allowed_origins: list[str] = Field([], alias="allowedOrigins")


class AnchorSettings(Strict):
    """Where the audit chain's head is kept out of the database owner's reach (DESIGN §12):
    an S3 bucket with Object Lock, one object per anchor under its default retention."""

    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="an S3 bucket with Object Lock and a default retention (compliance mode)",
    )
    prefix: str = Field(
        "pinback/anchors/",
        pattern=r"^([A-Za-z0-9!_.*'()-]+/)*$",
        description="where in the bucket, ending in /; one prefix per audit trail",
    )
    every: Duration = Field(300.0, description="how often the controller writes an anchor")
    owner: str | None = Field(None, description="who PinbackAuditAnchorStale names")

    @model_validator(mode="after")
    def _often_enough(self) -> AnchorSettings:
        if self.every < 1.0:
            raise ValueError("anchor.every: at least 1s")
        return self


class AuditSettings(Strict):
    url: str | None = None
    url_env: EnvName | None = Field(None, alias="urlEnv")
    anchor: AnchorSettings | None = None


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


# git check-ref-format's rules (git-check-ref-format(1)), and never an option: a ref that
# starts with "-" would be read by git as one (--output=FILE writes a file).
GIT_REF = re.compile(
    r"^(?!-)(?!.*\.\.)(?!.*@\{)(?!.*//)(?!.*/\.)(?!\.)(?!.*\.lock(/|$))"
    r"[^\x00-\x20\x7f~^:?*\[\\]+(?<![/.])$"
)


def _git_ref(value: str) -> str:
    if not GIT_REF.match(value):
        raise ValueError(
            f"{value!r} is not a git ref git check-ref-format accepts "
            "(origin/main, refs/heads/main; never starting with '-')"
        )
    return value


class GitSettings(Strict):
    repo: str = "."
    ref: Annotated[str, AfterValidator(_git_ref)] = Field(
        "origin/main",
        description="a ref git check-ref-format accepts (origin/main, refs/heads/main)",
    )
    poll_interval: Duration = Field(15.0, alias="pollInterval")
    webhook_secret_env: EnvName | None = Field(None, alias="webhookSecretEnv")


class DesiredStateSettings(Strict):
    path: str = "../state/desired-versions.yaml"
    git: GitSettings | None = None


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
    env: list[EnvName] = Field(
        [], description="variables the smoke command gets besides PATH, HOME and LANG"
    )


class BuildSettings(Strict):
    repo: str = "."
    workdir: str = "."
    command: str
    output: str
    timeout: Duration = 1800.0
    env: list[EnvName] = Field(
        [], description="variables the build gets besides PATH, HOME and LANG (never secrets)"
    )


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
    environments: dict[str, EnvironmentSettings] | None = None
