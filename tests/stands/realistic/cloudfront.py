"""CloudFront invalidations that take time (moto says ``COMPLETED`` at once).

- **An invalidation takes a while** (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Invalidation.html):
  ``GetInvalidation`` and ``ListInvalidations`` say ``InProgress`` for ``seconds`` after
  ``CreateInvalidation``, then ``Completed`` (AWS's spelling; moto writes ``COMPLETED``).
- **At most 15 ``/*`` invalidations in progress** per distribution
  (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html#limits-invalidations):
  one more is refused with ``TooManyInvalidationsInProgress`` (HTTP 400).
"""

from __future__ import annotations

import re
import threading
import time

from tests.stands.realistic import Answer, Call

INVALIDATION = re.compile(
    r"^/2020-05-31/distribution/(?P<distribution>[^/]+)/invalidation(?:/(?P<id>[^/]+))?$"
)
LIMIT = 15


class CloudFrontWorld:
    def __init__(self, seconds: float = 2.0) -> None:
        self.seconds = seconds
        self.started: dict[str, float] = {}  # invalidation id -> when it was created (monotonic)
        self.distribution_of: dict[str, str] = {}
        self.created = 0
        self.lock = threading.Lock()

    def _in_progress(self, distribution: str, now: float) -> int:
        return sum(
            1
            for ident, at in self.started.items()
            if self.distribution_of[ident] == distribution and now - at < self.seconds
        )

    def answer(self, call: Call) -> Answer | None:
        match = INVALIDATION.match(call.path)
        if match is None or call.method != "POST":
            return None
        with self.lock:
            if self._in_progress(match["distribution"], time.monotonic()) >= LIMIT:
                body = (
                    b"<ErrorResponse><Error><Type>Sender</Type><Code>TooManyInvalidationsInProgress</Code>"
                    b"<Message>Processing your request will cause you to exceed the maximum number of "
                    b"in-progress wildcard invalidations.</Message></Error></ErrorResponse>"
                )
                return Answer(400, [("Content-Type", "text/xml")], body)
        return None

    def rewrite(self, call: Call, answer: Answer) -> Answer:
        match = INVALIDATION.match(call.path)
        if match is None or answer.status >= 300:
            return answer
        now = time.monotonic()
        body = answer.body.decode()
        with self.lock:
            if call.method == "POST":
                ident = _first_id(body)
                if ident:
                    self.started[ident] = now
                    self.distribution_of[ident] = match["distribution"]
                    self.created += 1
            body = re.sub(
                r"<Id>(?P<id>[^<]+)</Id>(?P<between>.*?)<Status>[^<]+</Status>",
                lambda m: self._status(m, now),
                body,
                flags=re.S,
            )
        return Answer(answer.status, answer.headers, body.encode())

    def _status(self, found: re.Match[str], now: float) -> str:
        at = self.started.get(found["id"])
        status = "InProgress" if at is not None and now - at < self.seconds else "Completed"
        return f"<Id>{found['id']}</Id>{found['between']}<Status>{status}</Status>"


def _first_id(body: str) -> str | None:
    found = re.search(r"<Id>([^<]+)</Id>", body)
    return found.group(1) if found else None
