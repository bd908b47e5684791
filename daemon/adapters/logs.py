"""Structured logs: JSON lines on stdout for machines, a readable console on a terminal.

Every line has an ISO UTC timestamp, a level and an event name; passes bind a
``correlation_id`` and applies a ``target``, so one rollback can be followed across
lines. Secrets are masked on the way out (``daemon.core.redact``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from daemon.core.redact import redact


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in event.items()}


def configure(level: str = "info", stream: Any = None) -> None:
    """Set structlog up once for the process; a terminal gets colours, anything else JSON."""
    stream = stream or sys.stdout
    renderer: Any = (
        structlog.dev.ConsoleRenderer()
        if stream.isatty()
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )


def get(name: str = "pinback") -> Any:
    return structlog.get_logger(name)
