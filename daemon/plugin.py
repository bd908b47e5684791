"""What a plug-in imports: everything a third-party target kind needs, in one place.

A plug-in is a distribution with an entry point in the group ``pinback.drivers``, named
after its kind, whose object is a ``TargetKind``::

    [project.entry-points."pinback.drivers"]
    ssm-parameter = "pinback_ssm_parameter:KIND"

``TargetKind(name, target, pin, pin_field, driver)`` gives the pydantic model of a target's
config fields (a ``TargetBase`` subclass whose ``kind`` is ``Literal[name]``), the model of
its pin entry (a ``PinBase`` subclass with the version field and ``deny``), the version
field's name as written in the pin file, and ``driver(targets, context)``, which makes the
one driver serving every target of the kind. The driver keeps the promises of
``daemon.drivers.base`` (observe and preflight change nothing, apply is safe to repeat, wait
raises ``ApplyFailed``, ``WaitTimeout`` or ``WaitStopped``) and makes its AWS calls through
``context.clients``, so they are counted, retried, fenced and checked like pinback's own.

``examples/pinback-ssm-parameter`` is a complete plug-in, and the tutorial.
"""

from daemon.core.model import Action, Direction, Kind, Observed, Pin, Resolved, VersionInfo
from daemon.drivers.base import (
    NOTHING_STARTED,
    AwsDriver,
    Client,
    Driver,
    DriverContext,
    Progress,
    Started,
    Waiting,
    fan_out,
    wait_until,
)
from daemon.errors import ApplyFailed, PinbackError, Refused, WaitStopped, WaitTimeout
from daemon.spec import PinBase, TargetBase, TargetKind

__all__ = [
    "NOTHING_STARTED",
    "Action",
    "ApplyFailed",
    "AwsDriver",
    "Client",
    "Direction",
    "Driver",
    "DriverContext",
    "Kind",
    "Observed",
    "Pin",
    "PinBase",
    "PinbackError",
    "Progress",
    "Refused",
    "Resolved",
    "Started",
    "TargetBase",
    "TargetKind",
    "VersionInfo",
    "WaitStopped",
    "WaitTimeout",
    "Waiting",
    "fan_out",
    "wait_until",
]
