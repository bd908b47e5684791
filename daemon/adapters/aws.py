"""AWS clients for the drivers: one session, standard retries, every call counted.

Retries are botocore's own (standard mode: throttling and 5xx retried with jittered
backoff, bounded attempts; ``AWS_MAX_ATTEMPTS`` overrides the count), so the fault
proxy in the tests exercises the real retry logic. The endpoint comes from
``AWS_ENDPOINT_URL`` when set (the sandbox, moto in tests). Calls are counted from
botocore's events, never by hand, so no call can go uncounted.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.credentials import DeferredRefreshableCredentials, create_assume_role_refresher

from daemon.adapters import environment
from daemon.core import fencing, iam

CallListener = Callable[[str, str, str], None]
# A file to append the IAM action of every AWS call to, one per line: what a least-privilege
# policy must grant, read off what pinback really called (the test suite checks
# config/iam-policy.json with it).
CALL_LOG_ENV = environment.CALL_LOG


class CallCounter:
    """Counts API calls by (service, operation, outcome); thread-safe.

    ``outcome`` is ``ok`` or the AWS error code (``ThrottlingException``...), or
    ``error`` for a call that got no answer. Listeners (the metrics) are told too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.listeners: list[CallListener] = []

    def record(self, service: str, operation: str, outcome: str) -> None:
        with self._lock:
            self.counts[(service, operation, outcome)] += 1
        for listener in self.listeners:
            listener(service, operation, outcome)

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def mutating(self) -> list[str]:
        """Operations that change something, for tests that prove nothing was touched."""
        with self._lock:
            return sorted({op for (_, op, _), n in self.counts.items() if n and not _is_read(op)})


def _session(region: str, role_arn: str | None, endpoint_url: str | None) -> boto3.Session:
    """A session with the process's own credentials, or, with ``role_arn``, with the role's:
    assumed through STS on first use and again before they expire (botocore refreshes
    credentials 15 minutes ahead, so a long apply never meets an expired token)."""
    own = boto3.session.Session(region_name=region)
    if role_arn is None:
        return own
    sts = own.client("sts", region_name=region, endpoint_url=endpoint_url)
    refresh = create_assume_role_refresher(sts, {"RoleArn": role_arn, "RoleSessionName": "pinback"})
    core = botocore.session.get_session()
    # botocore has no public setter: this is how a session is given refreshing credentials.
    core._credentials = DeferredRefreshableCredentials(refresh, "assume-role")
    return boto3.session.Session(botocore_session=core, region_name=region)


def _is_read(operation: str) -> bool:
    return operation.startswith(("Describe", "Get", "List", "Head"))


class AwsClients:
    """Lazily made, shared boto3 clients (clients are thread-safe; sessions are not)."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        max_pool: int = 32,
        counter: CallCounter | None = None,
        role_arn: str | None = None,
        read_timeout: float = 30,
    ) -> None:
        """``read_timeout``: how long one attempt may wait for an answer (short for work
        that must never hold anything up, such as writing an audit anchor)."""
        self.region = region
        self.endpoint_url = endpoint_url if endpoint_url is not None else _endpoint_from_env()
        self.counter = counter or CallCounter()
        self.role_arn = role_arn
        self._session = _session(region, role_arn, self.endpoint_url)
        self._config = BotoConfig(
            region_name=region,
            retries={"mode": "standard"},
            connect_timeout=min(5, read_timeout),
            read_timeout=read_timeout,
            max_pool_connections=max_pool,
            s3={"addressing_style": "path"} if self.endpoint_url else None,
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        # With leadership on, every mutating request first confirms the apply's fence.
        self.fenced = False
        self.call_log = environment.named(environment.CALL_LOG)

    def client(self, service: str, attempts: int | None = None) -> Any:
        """The service's client; ``attempts``: one whose calls botocore tries only that many
        times (a read with a fallback, which must not hold a pass up for a retry's backoff)."""
        key = service if attempts is None else f"{service}/{attempts}"
        with self._lock:
            if key not in self._clients:
                config = self._config
                if attempts is not None:
                    config = config.merge(
                        BotoConfig(retries={"mode": "standard", "max_attempts": attempts})
                    )
                client = self._session.client(
                    service, endpoint_url=self.endpoint_url, config=config
                )
                client.meta.events.register("after-call.*.*", self._after_call)
                client.meta.events.register("after-call-error.*.*", self._after_call_error)
                client.meta.events.register("before-send.*.*", self._before_send)
                if self.call_log:
                    client.meta.events.register("before-parameter-build.*.*", self._log_call)
                self._clients[key] = client
            return self._clients[key]

    def _before_send(self, event_name: str = "", **_: Any) -> None:
        # "before-send.<service>.<Operation>", once per attempt: a retry of a change made
        # after the lease was lost is refused like the first try. Raising here stops the
        # request before it leaves (botocore does not retry this).
        operation = event_name.rsplit(".", 1)[-1]
        if self.fenced and not _is_read(operation):
            fencing.confirm(required=True)

    def _log_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """Once per call (not per attempt), before it is sent: its IAM actions, appended in
        one write so lines of several processes sharing the file never interleave."""
        needed = iam.actions_for(model.service_model.service_name, model.name, params)
        assert self.call_log is not None
        with open(self.call_log, "a", encoding="utf-8") as log:
            log.write("".join(f"{action}\n" for action in needed))

    def _after_call(self, http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        error = parsed.get("Error", {}) if isinstance(parsed, dict) else {}
        outcome = error.get("Code") or "ok"
        self.counter.record(model.service_model.service_name, model.name, str(outcome))

    def _after_call_error(self, exception: Exception, event_name: str = "", **_: Any) -> None:
        # "after-call-error.<service>.<Operation>": no model is passed with this event.
        parts = event_name.split(".")
        service, operation = (parts[1], parts[2]) if len(parts) >= 3 else ("?", "?")
        self.counter.record(service, operation, "error")


def _endpoint_from_env() -> str | None:
    return environment.named(environment.AWS_ENDPOINT)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError``, or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", exc.__class__.__name__))
    return exc.__class__.__name__


def error_message(exc: BaseException) -> str:
    """One line describing an AWS failure, without request ids or credentials."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = error.get("Code", "")
        message = error.get("Message", "")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{code}: {message}".strip(": ") or f"HTTP {status} with no error message"
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
