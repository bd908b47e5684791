"""The one place pinback reads its environment.

Two kinds of variable: pinback's own (named here, each with what it does), and the ones a
config names for a secret or a per-deployment value (``urlEnv``, ``secretEnv``,
``distributionIdEnv``): those are read with ``named`` or ``required``, whose error says
which setting asked for the variable. Nothing else in ``daemon`` touches ``os.environ``
(``tests/unit/test_architecture.py`` checks it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from daemon.errors import ConfigError

AUDIT_URL = "PINBACK_AUDIT_URL"  # the audit trail's URL, over the config's
DEBUG = "PINBACK_DEBUG"  # set: the CLI shows tracebacks instead of one sentence
CALL_LOG = "PINBACK_AWS_CALL_LOG"  # a file to append the IAM action of every AWS call to
AWS_ENDPOINT = "AWS_ENDPOINT_URL"  # an AWS emulator (the sandbox, the tests)


def named(name: str) -> str | None:
    """The value of a variable the config names; None when unset or empty."""
    return os.environ.get(name) or None


def required(name: str, setting: str) -> str:
    """The value of a variable the config names, or ``ConfigError`` naming the setting."""
    value = named(name)
    if value is None:
        raise ConfigError(f"environment variable {name} ({setting}) is not set")
    return value


def debug() -> bool:
    return bool(named(DEBUG))


def for_child(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a command pinback runs (a smoke test), with ``extra`` added."""
    return {**os.environ, **extra}
