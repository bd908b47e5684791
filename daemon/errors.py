"""Errors as types: what went wrong decides what the caller does next.

Every error's ``str()`` is one sentence a person on call can act on; the CLI prints
it as is, never a traceback. No error message may carry a secret: database URLs are
masked (see ``daemon.core.redact``) before they reach one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class Then(StrEnum):
    """What the controller does with a target whose apply ended in an error of this type
    (``daemon.controller.workers`` keeps one handler per value)."""

    RETRY = "retry"  # back off (1 s doubling to 5 min, jittered) and apply the same pin again
    HOLD = "hold"  # retrying the same pin cannot help: leave the target until its pin changes
    RESUME = "resume"  # ended on purpose: the next pass (or the new leader) sees where it got


class PinbackError(Exception):
    """Base of every error pinback reports to a person."""

    then: ClassVar[Then] = Then.RETRY


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a file, at the place a person must look."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class SpecError(PinbackError):
    """A pin file or config that does not validate; carries every issue found, not just the first."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class ConfigError(PinbackError):
    """A setting that is valid in form but unusable here (a missing environment variable, say)."""


class PluginFailed(PinbackError):
    """A plug-in's driver raised something other than pinback's errors (a bug in it): the
    sentence names the kind and its distribution; its target is retried with backoff and
    every other kind's targets go on."""


class NotChosen(PinbackError):
    """A request to the controller that does not name one thing it runs: an environment it
    does not run, or a target of several environments without ``?env=``. Answered 400 with
    the sentence; its own type, so a ``KeyError`` from a bug is never answered as one."""


class Refused(PinbackError):
    """Preflight refused a pin before anything was touched (missing version, destructive step).

    Retrying does not help until the pin or the world changes, so it is reported as
    ``blocked`` rather than ``failed``.
    """


class ApplyFailed(PinbackError):
    """A change was made but did not take: a failed deployment, an update that failed, a timeout."""


class Held(ApplyFailed):
    """A change failed in a way that retrying the same pin cannot fix: AWS's own safety net
    undid it (the ECS deployment circuit breaker), or CodeDeploy rejected it. The target is
    held, recorded once, and left alone until its pin changes."""

    then = Then.HOLD


class WaitTimeout(ApplyFailed):
    """The change did not reach its done state before the target's deadline."""


class WaitStopped(ApplyFailed):
    """The wait was ended on purpose (shutdown, a newer pin, a lost lease) before the change
    was seen to take; the change made stays, and the next pass observes where it got to."""

    then = Then.RESUME


class ObserveFailed(PinbackError):
    """Live state could not be read (AWS or database unreachable, resource missing)."""


class Fenced(PinbackError):
    """This replica may no longer change anything: its lease was lost, taken over, or could
    not be confirmed. The step stops before its call; the new leader finishes the job."""

    then = Then.RESUME


class AwsCallFailed(PinbackError):
    """An AWS call failed after botocore's own retries: refused, throttled, unreachable.
    Raised at the driver boundary in place of botocore's exceptions, so nothing above the
    drivers knows botocore; the message is AWS's code and message, with no request id."""


class AnchorUnavailable(PinbackError):
    """The audit anchors' bucket did not answer or refused a write: logged and counted by the
    controller, which goes on reconciling; ``audit verify`` cannot vouch for the trail."""


class AuditUnavailable(PinbackError):
    """The audit store cannot be written: pinback does not change what it cannot record."""
