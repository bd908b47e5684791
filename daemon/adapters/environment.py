"""The one place pinback reads its environment.

Two kinds of variable: pinback's own (named here, each with what it does), and the ones a
config names for a secret or a per-deployment value (``urlEnv``, ``secretEnv``,
``distributionIdEnv``): those are read with ``named`` or ``required``, whose error says
which setting asked for the variable. Nothing else in ``daemon`` touches ``os.environ``
(``tests/unit/test_architecture.py`` checks it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

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


# What every program pinback runs gets of its environment (DESIGN section 17): enough to run,
# nothing of the controller's secrets (the audit and lease database URLs, webhook secrets,
# AWS credentials). A config passes more by name (``env:`` on a build or a health check).
CHILD = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")
GIT_PREFIXES = ("GIT_",)  # git's own settings (identity, ssh command, askpass)
GIT_NAMES = ("SSH_AUTH_SOCK", "SSH_AGENT_PID")


def for_child(extra: Mapping[str, str], passed: Sequence[str] = ()) -> dict[str, str]:
    """The environment of a command a config names (a build, a smoke test): the allowlist,
    the variables the config names in ``env:`` (``passed``), then ``extra``."""
    names = (*CHILD, *passed)
    return {**{n: os.environ[n] for n in names if n in os.environ}, **extra}


def for_git() -> dict[str, str]:
    """The environment of git: the allowlist, git's own variables and the ssh agent's."""
    chosen = {
        n: v
        for n, v in os.environ.items()
        if n in CHILD or n in GIT_NAMES or n.startswith(GIT_PREFIXES)
    }
    return chosen
