"""Structured logs: JSON lines on stdout for machines, a readable console on a terminal.

Every line has an ISO UTC timestamp, a level and an event name; passes bind a
``correlation_id`` and applies a ``target``, so one rollback can be followed across
lines. Secrets are masked on the way out (``daemon.core.redact``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from enum import StrEnum
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


class LogEvent(StrEnum):
    """The log events that are not audit events (those are ``daemon.core.records.Event``):
    the names people grep the controller's log for and tests wait on."""

    ANCHOR_FAILED = "anchor_failed"
    ANCHOR_WRITTEN = "anchor_written"
    APPLY_INTERRUPTED = "apply_interrupted"
    AUDIT_UNAVAILABLE = "audit_unavailable"
    CONFIG_CHANGED = "config_changed"
    CONTROLLER_STARTED = "controller_started"
    DESIRED_LOADED = "desired_loaded"
    GIT_FETCH_FAILED = "git_fetch_failed"
    GIT_WEBHOOK_REFUSED = "git_webhook_refused"
    LISTENER_OPEN_ONLY = "listener_open_only"
    HELD = "held"
    OPEN_APPLY_CLOSED = "open_apply_closed"
    READINESS_CHECKED = "readiness_checked"
    READINESS_FAILED = "readiness_failed"
    PASS_CRASHED = "pass_crashed"
    PASS_FINISHED = "pass_finished"
    PLUGIN_UNUSABLE = "plugin_unusable"
    PROGRESS = "progress"
    RECONCILE_CRASHED = "reconcile_crashed"
    SHUTDOWN_FINISHED = "shutdown_finished"
    SHUTDOWN_STARTED = "shutdown_started"
    WAITING_FOR = "waiting_for"
    WATCH_FAILED = "watch_failed"
    WEBHOOK_DISABLED = "webhook_disabled"
    WEBHOOK_DROPPED = "webhook_dropped"
    WEBHOOK_FAILED = "webhook_failed"
    WEBHOOK_RETRY = "webhook_retry"
    WEBHOOK_UNSIGNED = "webhook_unsigned"
