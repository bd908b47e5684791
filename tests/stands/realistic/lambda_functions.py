"""Lambda functions whose updates take time, as AWS runs them (moto finishes an update at once).

- **Updates take seconds** (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html):
  after ``UpdateFunctionCode`` the function's ``LastUpdateStatus`` is ``InProgress`` until
  the new image is ready (``update_seconds``), then ``Successful``; meanwhile another
  ``UpdateFunctionCode`` or a ``PublishVersion`` fails with ``ResourceConflictException``
  (HTTP 409: "An update is in progress for resource").
- **LastModified moves with every update** (moto keeps the creation time): the world stamps it
  in AWS's format (``2026-12-02T10:00:00.000+0000``) on the function's answers and listing.
- **ListFunctions answers a subset** (botocore's model: "The ListFunctions operation returns
  a subset of the FunctionConfiguration fields. To get the additional fields (State, ...
  LastUpdateStatus ...) use GetFunction"): the listing carries no ``LastUpdateStatus``.
- **UpdateAlias checks RevisionId** (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateAlias.html):
  an update carrying a ``RevisionId`` other than the alias's current one fails with
  ``PreconditionFailedException`` (HTTP 412); each update makes a new one. moto ignores it.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from typing import Any

from tests.stands.realistic import Answer, Call

BASE = "/2015-03-31/functions"
STATUS_FIELDS = (
    "State",
    "StateReason",
    "StateReasonCode",
    "LastUpdateStatus",
    "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode",
)


class LambdaWorld:
    """The functions a test animates; every other Lambda call goes to moto untouched."""

    def __init__(self, update_seconds: float = 1.0) -> None:
        self.update_seconds = update_seconds
        self.functions: set[str] = set()
        self.updating: dict[str, float] = {}  # function -> when its update ends (monotonic)
        self.modified: dict[str, str] = {}  # function -> LastModified of its last update
        self.revisions: dict[tuple[str, str], str] = {}  # (function, alias) -> RevisionId
        self.conflicts: list[str] = []  # requests refused because an update was in progress
        self.lock = threading.Lock()

    def animate(self, function: str) -> None:
        with self.lock:
            self.functions.add(function)

    def answer(self, call: Call) -> Answer | None:
        parts = _parts(call.path)
        if parts is None or parts[0] not in self.functions:
            return None
        function, rest = parts
        with self.lock:
            busy = self.updating.get(function, 0.0) > time.monotonic()
            if busy and (
                (call.method == "PUT" and rest == ["code"])
                or (call.method == "POST" and rest == ["versions"])
            ):
                self.conflicts.append(f"{call.method} {call.path}")
                return _error(
                    409,
                    "ResourceConflictException",
                    "The operation cannot be performed at this time. An update is in progress "
                    f"for resource: arn:aws:lambda:ap-northeast-2:123456789012:function:{function}",
                )
            if call.method == "PUT" and len(rest) == 2 and rest[0] == "aliases":
                wanted = call.json().get("RevisionId")
                current = self.revisions.get((function, rest[1]))
                if wanted and current and wanted != current:
                    return _error(
                        412,
                        "PreconditionFailedException",
                        "The Revision Id provided does not match the latest Revision Id.",
                    )
        return None

    def rewrite(self, call: Call, answer: Answer) -> Answer:
        if not call.path.startswith(BASE) or answer.status >= 300:
            return answer
        parts = _parts(call.path)
        if call.method == "GET" and call.path.rstrip("/") == BASE:  # ListFunctions
            document = answer.document()
            for config in document.get("Functions", []):
                for name in STATUS_FIELDS:
                    config.pop(name, None)
                with self.lock:
                    if config.get("FunctionName") in self.modified:
                        config["LastModified"] = self.modified[config["FunctionName"]]
            return answer.with_document(document)
        if parts is None or parts[0] not in self.functions:
            return answer
        function, rest = parts
        with self.lock:
            if call.method == "PUT" and rest == ["code"]:
                self.updating[function] = time.monotonic() + self.update_seconds
                now = dt.datetime.now(dt.UTC)
                self.modified[function] = (
                    now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"
                )
                document = answer.document()
                document["LastUpdateStatus"] = "InProgress"
                document["LastModified"] = self.modified[function]
                return answer.with_document(document)
            if len(rest) == 2 and rest[0] == "aliases":
                return self._alias(function, rest[1], call.method, answer)
            busy = self.updating.get(function, 0.0) > time.monotonic()
            reads_latest = "Qualifier" not in call.query or call.query["Qualifier"] == ["$LATEST"]
            if call.method == "GET" and busy and reads_latest and rest in ([], ["configuration"]):
                document = answer.document()
                config = document.get("Configuration", document)
                config["LastUpdateStatus"] = "InProgress"
                config["LastUpdateStatusReason"] = "The function is being updated."
                return answer.with_document(document)
        return answer

    def _alias(self, function: str, alias: str, method: str, answer: Answer) -> Answer:
        key = (function, alias)
        if method == "PUT" or key not in self.revisions:
            self.revisions[key] = uuid.uuid4().hex
        document = answer.document()
        document["RevisionId"] = self.revisions[key]
        return answer.with_document(document)


def _parts(path: str) -> tuple[str, list[str]] | None:
    if not path.startswith(BASE + "/"):
        return None
    pieces = [p for p in path[len(BASE) + 1 :].split("/") if p]
    if not pieces:
        return None
    return pieces[0], pieces[1:]


def _error(status: int, code: str, message: str) -> Answer:
    body = json.dumps({"Type": "User", "message": message}).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    return Answer(status, headers, body)


def routed(document: dict[str, Any]) -> dict[str, float]:
    """An alias document's additional version weights."""
    return dict((document.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
