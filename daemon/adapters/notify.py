"""Notifications: tell the team what pinback did (ROLLBACK.md 7.1 "announce", 7.3 "share").

Webhooks from ``notify.webhooks`` receive the events they ask for (``applied``,
``failed``, ``drift``, ``blocked``, ``health_failed``) as a Slack-compatible JSON body
(``text`` plus structured fields), signed with ``X-Pinback-Signature-256:
sha256=<HMAC of the body>`` when a secret is configured. Each webhook has its own
sender thread and bounded queue, so a slow or dead endpoint never delays reconciling
or the other webhooks; a failed delivery is retried with backoff (1 s doubling, five
tries), then dropped with a log line. The webhook URL, which may embed a token, is
never logged.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from daemon.adapters import environment
from daemon.adapters.logs import LogEvent
from daemon.core.records import Event, Record
from daemon.core.signing import sign
from daemon.spec import LoadedConfig, Webhook

EVENT_OF_RECORD = {
    Event.APPLY_SUCCEEDED: "applied",
    Event.APPLY_FAILED: "failed",
    Event.DRIFT_DETECTED: "drift",
    Event.BLOCKED: "blocked",
    Event.HEALTH_FAILED: "health_failed",
}
TRIES = 5
QUEUE_LIMIT = 1000
SIGNATURE_HEADER = "X-Pinback-Signature-256"


def message(record: Record, owner: str | None, urgency: str | None) -> dict[str, Any]:
    """The Slack-compatible body: one line of text, and the fields a bot would want."""
    event = EVENT_OF_RECORD[record.event]
    versions = f"{record.live_before or '-'} → {record.desired or '-'}"
    outcome = {
        "applied": f"now at {record.live_after}",
        "failed": f"failed: {record.error}",
        "drift": "live differs from the pin",
        "blocked": f"blocked: {record.error}",
        "health_failed": f"health check failed: {record.error}",
    }[event]
    who = f" by {record.actor}" if record.actor else ""
    why = f" ({record.reason})" if record.reason else ""
    text = f"pinback {event}: {record.target} {versions}{who}{why}; {outcome}"
    return {
        "text": text,
        "event": event,
        "target": record.target,
        "kind": record.kind,
        "owner": owner,
        "urgency": urgency,
        "desired": record.desired,
        "liveBefore": record.live_before,
        "liveAfter": record.live_after,
        "actor": record.actor,
        "pinCommit": record.pin_commit,
        "reason": record.reason,
        "outcome": outcome,
        "auditSeq": record.seq,
        "time": record.ts,
    }


@dataclass
class _Hook:
    url: str
    secret: str | None
    events: frozenset[str]
    inbox: queue.Queue[bytes]
    thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc or "?"


class Notifier:
    def __init__(self, config: LoadedConfig, log: Any, stop: threading.Event | None = None) -> None:
        self.log = log
        self.stop = stop or threading.Event()
        self.meta: Mapping[str, tuple[str | None, str]] = {
            name: (t.owner, t.urgency) for name, t in config.model.targets.items()
        }
        self.hooks = [h for h in (self._hook(w) for w in config.model.notify.webhooks) if h]

    def _hook(self, webhook: Webhook) -> _Hook | None:
        url = environment.named(webhook.url_env)
        if not url:
            self.log.error(
                LogEvent.WEBHOOK_DISABLED,
                reason=f"environment variable {webhook.url_env} is not set",
            )
            return None
        secret = environment.named(webhook.secret_env) if webhook.secret_env else None
        if webhook.secret_env and not secret:
            self.log.error(
                LogEvent.WEBHOOK_UNSIGNED,
                reason=f"environment variable {webhook.secret_env} is not set",
            )
        return _Hook(url, secret, frozenset(webhook.events), queue.Queue(QUEUE_LIMIT))

    def on_record(self, record: Record) -> None:
        """An audit-trail listener: queue the record for every webhook that wants it."""
        event = EVENT_OF_RECORD.get(record.event)
        if event is None or not self.hooks:
            return
        owner, urgency = self.meta.get(record.target or "", (None, None))
        body = json.dumps(message(record, owner, urgency)).encode()
        for hook in self.hooks:
            if event not in hook.events:
                continue
            if hook.thread is None:
                hook.thread = threading.Thread(
                    target=self._sender, args=(hook,), name=f"webhook-{hook.host}", daemon=True
                )
                hook.thread.start()
            try:
                hook.inbox.put_nowait(body)
            except queue.Full:
                self.log.error(LogEvent.WEBHOOK_DROPPED, host=hook.host, reason="queue full")

    def _sender(self, hook: _Hook) -> None:
        while not self.stop.is_set():
            try:
                body = hook.inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._deliver(hook, body)
            finally:
                hook.inbox.task_done()

    def _deliver(self, hook: _Hook, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "pinback"}
        if hook.secret:
            headers[SIGNATURE_HEADER] = sign(hook.secret, body)
        delay = 1.0
        for attempt in range(1, TRIES + 1):
            request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    if 200 <= answer.status < 300:
                        return
                    error = f"HTTP {answer.status}"
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
            except (OSError, ValueError) as exc:
                error = str(getattr(exc, "reason", exc))
            self.log.warning(
                LogEvent.WEBHOOK_RETRY if attempt < TRIES else LogEvent.WEBHOOK_FAILED,
                host=hook.host,
                attempt=attempt,
                error=error,
            )
            if attempt == TRIES or self.stop.wait(delay):
                return
            delay *= 2

    def drain(self, timeout: float) -> None:
        """Give queued deliveries, including the one being sent, up to ``timeout`` seconds
        (the one-shot CLI before it exits: an empty queue alone would cut the last one)."""
        deadline = time.monotonic() + timeout
        for hook in self.hooks:
            while hook.inbox.unfinished_tasks and time.monotonic() < deadline:
                if self.stop.wait(0.05):
                    return
