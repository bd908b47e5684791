"""The two files people write: the config (targets, settings) and the pin file.

Strict pydantic v2 models (``fields``, ``config``, ``pins``) and their loading
(``loading``), which reports every problem of a file together with line and column;
``yamlfile`` reads YAML keeping where each value was written. Above the pure core (it uses
its value types and the cron and duration parsers); below everything that acts on a config.
The names below are the package's public face: import them from ``daemon.spec``.
"""

from daemon.spec.config import (
    AlembicTarget,
    AnchorSettings,
    AuditSettings,
    AwsSettings,
    BuildSettings,
    CodeDeploySettings,
    Config,
    DaemonSettings,
    DesiredStateSettings,
    EcsTarget,
    FreezeWindow,
    FrontendTarget,
    GitSettings,
    HealthSettings,
    LambdaTarget,
    LeadershipSettings,
    NotifySettings,
    Target,
    TargetBase,
    Webhook,
)
from daemon.spec.fields import FORMS, Strict
from daemon.spec.kinds import Kinds, TargetKind, installed
from daemon.spec.loading import (
    DesiredState,
    LoadedConfig,
    absolute,
    json_schemas,
    load_config,
    load_desired,
)
from daemon.spec.pins import PinBase

__all__ = [
    "FORMS",
    "AlembicTarget",
    "AnchorSettings",
    "AuditSettings",
    "AwsSettings",
    "BuildSettings",
    "CodeDeploySettings",
    "Config",
    "DaemonSettings",
    "DesiredState",
    "DesiredStateSettings",
    "EcsTarget",
    "FreezeWindow",
    "FrontendTarget",
    "GitSettings",
    "HealthSettings",
    "Kinds",
    "LambdaTarget",
    "LeadershipSettings",
    "LoadedConfig",
    "NotifySettings",
    "PinBase",
    "Strict",
    "Target",
    "TargetBase",
    "TargetKind",
    "Webhook",
    "absolute",
    "installed",
    "json_schemas",
    "load_config",
    "load_desired",
]
