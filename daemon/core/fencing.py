"""The fencing token of the apply running on this thread, for the checks before each change.

With leadership on, every mutating step must first confirm, in the lease database, that
the epoch it runs under still holds. The controller sets the fence for the duration of an
apply; ``daemon.adapters.aws`` asks it before every mutating AWS request (on every attempt,
botocore's retries included) and the engine before a driver starts, so no code path can
change something without asking. It is a context variable rather than an argument so the
drivers stay unaware of leadership; thread pools inside an apply copy the context
(``in_context``) to carry it along.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, copy_context
from typing import Protocol, TypeVar

from daemon.errors import Fenced

T = TypeVar("T")


class Fence(Protocol):
    def confirm(self) -> None:
        """Return if the epoch still holds; raise ``Fenced`` otherwise."""


current: ContextVar[Fence | None] = ContextVar("pinback_fence", default=None)


def confirm(required: bool = False) -> None:
    """Before a change: confirm the fence of this apply. ``required`` (leadership is on):
    a change with no fence at all is refused too, so a missed hand-over fails closed."""
    fence = current.get()
    if fence is not None:
        fence.confirm()
    elif required:
        raise Fenced("a change was attempted outside a leader's apply; refused")


def in_context(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` bound to a copy of the caller's context, for ``pool.submit``."""
    context = copy_context()
    return lambda *args, **kwargs: context.run(function, *args, **kwargs)
