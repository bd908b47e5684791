"""AWS as it behaves in time, in front of moto: the fault proxy's realistic mode.

moto finishes every ECS deployment, CloudFront invalidation and Lambda update the moment it
is asked, and lacks whole APIs (ECS's service deployments, deployment strategies, composite
alarms). A *world* sits in the fault proxy (``FaultProxy.add_world``) and, for the resources
a test hands it, answers the way AWS answers: with time where AWS takes time, with the APIs
moto lacks, with the refusals AWS makes. Everything else still goes to moto. Each world names
the AWS behaviour and its documentation page in its docstring; pinback sees real HTTP,
parsed by botocore, as it would from AWS.

A world is asked twice per request: ``answer`` (answer it alone, moto never sees it) and,
when it did not, ``rewrite`` (change moto's answer). Worlds keep their own clock
(``time.monotonic``), so "during the rollout" is a real stretch of time in a test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Call:
    """One request as a world sees it."""

    operation: str  # from X-Amz-Target (JSON services), "" for REST ones
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    body: bytes

    @classmethod
    def of(cls, operation: str, method: str, raw_path: str, body: bytes) -> Call:
        parts = urlsplit(raw_path)
        return cls(operation, method, parts.path, parse_qs(parts.query), body)

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Answer:
    """What goes back to the caller: a status, headers and a body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def json(cls, document: Any, status: int = 200) -> Answer:
        return cls(
            status,
            [("Content-Type", "application/x-amz-json-1.1")],
            json.dumps(document, default=_epoch).encode(),
        )

    @classmethod
    def error(cls, code: str, message: str, status: int = 400) -> Answer:
        return cls.json({"__type": code, "message": message}, status)

    def document(self) -> Any:
        return json.loads(self.body)

    def with_document(self, document: Any) -> Answer:
        """The same answer (status, headers) with ``document`` as its JSON body."""
        return Answer(self.status, self.headers, json.dumps(document, default=_epoch).encode())


class World(Protocol):
    def answer(self, call: Call) -> Answer | None: ...

    def rewrite(self, call: Call, answer: Answer) -> Answer: ...


def _epoch(value: Any) -> Any:
    raise TypeError(f"not JSON: {value!r}")
