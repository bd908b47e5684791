"""An HTTP proxy in front of moto that injects faults, so botocore's real retries are tested.

Control endpoint (JSON over HTTP on the proxy itself):
- ``POST /__faults__/rules`` with ``{"match": "UpdateService", "fault": "throttle",
  "count": 2}`` adds a rule. ``match`` is a substring of ``"<Operation> <METHOD> <path>"``
  (the operation comes from ``X-Amz-Target`` for JSON services); an optional ``body``
  must also be a substring of the request body; an optional ``probability`` (0-1) makes
  the rule take only that share of matching requests. Faults: ``throttle``
  (the service's throttling error), ``error500``, ``latency`` (``delay`` seconds, then
  forward), ``reset`` (close the connection with no answer), ``rewrite`` (forward, then
  set fields of the JSON answer: ``"set": {"services.*.deployments.*.rolloutState":
  "FAILED"}``, or for XML ``"replace": {"COMPLETED": "InProgress"}``), ``answer`` (AWS's
  refusal of a JSON API call: ``status``, ``error`` code and ``message``). ``count`` is how
  many matching requests the rule takes (-1: all); ``skip`` lets that many through first;
  ``after`` arms the rule only once a request matching it has been seen.
- ``hold-before`` keeps the request from AWS and never answers; ``hold-after`` forwards it
  and keeps the answer: a test kills the controller at that exact point, then
  ``release()``s.
- Worlds (``add_world``, in process) answer as AWS does with time and with the APIs moto
  lacks (``tests.stands.realistic``): each is asked to answer a request alone, else to
  rewrite moto's answer; fault rules still come first.
- ``DELETE /__faults__/rules`` clears the rules; ``GET /__faults__/calls`` returns the
  requests seen, one ``"<Operation> <METHOD> <path>"`` string each.

In process, ``denials`` lists the requests AWS refused for want of a permission, and with
``keep_bodies`` the proxy keeps each request's body (``bodies``), to see what a caller asked.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.stands.realistic import Answer, Call, World

HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "proxy-connection",
}


class FaultProxy:
    def __init__(self, upstream: str, keep_bodies: bool = False) -> None:
        parts = urlsplit(upstream)
        # (signature, request body) of every request, when asked: what a caller asked for.
        self.keep_bodies = keep_bodies
        self.bodies: list[tuple[str, bytes]] = []
        # Requests AWS refused for want of a permission: a 403, or a 200 whose body names
        # AccessDenied (DeleteObjects reports each refused key that way:
        # https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html).
        self.denials: list[str] = []
        # (signature, access key id) of every signed request: whose credentials called.
        self.signed: list[tuple[str, str]] = []
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rules: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.arrivals: list[tuple[float, str]] = []  # (time.time(), signature), for latency figures
        self.random = random.Random(1)
        self.holding: list[str] = []
        self.worlds: list[World] = []
        self.released = threading.Event()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body go out as two writes; with Nagle on, the body waits
            # for the client's delayed ACK of the headers: 40 ms on every proxied call.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

            do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- control, in-process -----------------------------------------------------------

    def add(self, match: str, fault: str, count: int = 1, **extra: Any) -> None:
        with self.lock:
            self.rules.append({"match": match, "fault": fault, "count": count, **extra})

    def add_world(self, world: World) -> World:
        """Answer as AWS does for what ``world`` animates, until ``clear``."""
        with self.lock:
            self.worlds.append(world)
        return world

    def _hold(self, signature: str) -> None:
        with self.lock:
            self.holding.append(signature)
        self.released.wait(60)

    def release(self) -> None:
        """Let go of held requests (their clients are usually gone by then)."""
        self.released.set()

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.calls.clear()
            self.arrivals.clear()
            self.bodies.clear()
            self.denials.clear()
            self.signed.clear()
            self.holding.clear()
            self.worlds.clear()
        self.released.set()
        self.released = threading.Event()

    def drop_rules(self) -> None:
        """Stop injecting faults, keeping the calls counted so far."""
        with self.lock:
            self.rules.clear()

    def mutating_since(self, since: float) -> list[str]:
        """The requests that change something, arrived after ``since`` (``time.time()``)."""
        with self.lock:
            arrivals = list(self.arrivals)
        return [s for t, s in arrivals if t >= since and _mutating(s)]

    def seen(self, match: str) -> int:
        with self.lock:
            return sum(1 for c in self.calls if match in c)

    # -- request handling -----------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        if request.path.startswith("/__faults__"):
            self._control(request, body)
            return
        target = request.headers.get("X-Amz-Target", "")
        operation = target.rsplit(".", 1)[-1] if target else ""
        signature = f"{operation} {request.command} {request.path}"
        credential = request.headers.get("Authorization", "").partition("Credential=")[2]
        with self.lock:
            self.calls.append(signature)
            self.signed.append((signature, credential.partition("/")[0]))
            self.arrivals.append((time.time(), signature))
            if self.keep_bodies:
                self.bodies.append((signature, body))
            rule = self._take(signature, body)
        if rule is not None:
            fault = rule["fault"]
            if fault == "latency":
                time.sleep(float(rule.get("delay", 1.0)))
            elif fault == "reset":
                request.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                request.close_connection = True
                request.connection.close()
                return
            elif fault in ("throttle", "error500"):
                self._fault_answer(request, fault, bool(target))
                return
            elif fault == "answer":  # AWS's own refusal, as a JSON service sends it
                self._answer(request, int(rule.get("status", 400)), rule["error"], rule["message"])
                return
            elif fault == "hold-before":  # the request never reaches AWS
                self._hold(signature)
                request.close_connection = True
                return
        call = Call.of(operation, request.command, request.path, body)
        with self.lock:
            worlds = list(self.worlds)
        answered = next((a for w in worlds if (a := w.answer(call)) is not None), None)
        if answered is not None:
            status, headers, answer = answered.status, answered.headers, answered.body
        else:
            status, headers, answer = self._forward(request, body)
            for world in worlds:
                rewritten = world.rewrite(call, Answer(status, headers, answer))
                status, headers, answer = rewritten.status, rewritten.headers, rewritten.body
        if status == 403 or b"AccessDenied" in answer:
            with self.lock:
                self.denials.append(signature)
        if rule is not None and rule["fault"] == "hold-after":  # AWS did it; the answer is held
            self._hold(signature)
            request.close_connection = True
            return
        if rule is not None and rule["fault"] == "rewrite":
            answer = _rewrite(answer, rule.get("set", {}), rule.get("replace", {}))
        request.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_HEADERS:
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(answer)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(answer)

    def _take(self, signature: str, body: bytes) -> dict[str, Any] | None:
        for rule in self.rules:
            if rule.get("after") and rule["after"] in signature:
                rule["armed"] = True  # from the next request on
                continue
        for rule in self.rules:
            if rule.get("body") and rule["body"].encode() not in body:
                continue
            if rule.get("after") and not rule.get("armed"):
                continue
            if rule["count"] != 0 and rule["match"] in signature:
                if rule.get("skip", 0) > 0:  # let this many matching requests through first
                    rule["skip"] -= 1
                    continue
                if "probability" in rule and self.random.random() >= rule["probability"]:
                    continue
                if rule["count"] > 0:
                    rule["count"] -= 1
                return rule
        return None

    def _forward(
        self, request: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        connection.request(request.command, request.path, body=body or None, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        connection.close()
        return response.status, response.getheaders(), answer

    def _fault_answer(
        self, request: BaseHTTPRequestHandler, fault: str, json_protocol: bool
    ) -> None:
        if fault == "error500":
            status, content_type = 500, "application/json" if json_protocol else "application/xml"
            body = (
                json.dumps({"__type": "InternalFailure", "message": "injected 500"})
                if json_protocol
                else "<Error><Code>InternalError</Code><Message>injected 500</Message></Error>"
            )
            headers = {}
        elif json_protocol:
            status, content_type = 400, "application/x-amz-json-1.1"
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
            headers = {}
        elif request.path.startswith("/2015-03-31"):  # Lambda (REST-JSON)
            status, content_type = 429, "application/json"
            body = json.dumps({"message": "Rate exceeded", "Type": "User"})
            headers = {"x-amzn-ErrorType": "TooManyRequestsException"}
        else:  # S3, CloudFront (XML)
            status, content_type = 503, "application/xml"
            body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            headers = {}
        data = body.encode()
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _answer(
        self, request: BaseHTTPRequestHandler, status: int, error: str, message: str
    ) -> None:
        if request.headers.get("X-Amz-Target"):  # a JSON service (ECS, CodeDeploy, ...)
            data = json.dumps({"__type": error, "message": message}).encode()
            content_type = "application/x-amz-json-1.1"
        else:  # S3 answers in XML
            data = f"<Error><Code>{error}</Code><Message>{message}</Message></Error>".encode()
            content_type = "application/xml"
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _control(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        if request.command == "POST" and request.path == "/__faults__/rules":
            rule = json.loads(body)
            self.add(**rule)
            answer: Any = {"ok": True}
        elif request.command == "DELETE":
            self.clear()
            answer = {"ok": True}
        else:
            with self.lock:
                answer = {"calls": list(self.calls)}
        data = json.dumps(answer).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (a killed controller) is normal here, not worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def _rewrite(answer: bytes, assignments: dict[str, Any], replacements: dict[str, str]) -> bytes:
    for old, new in replacements.items():  # for XML answers (S3, CloudFront)
        answer = answer.replace(old.encode(), new.encode())
    if not assignments:
        return answer
    try:
        document = json.loads(answer)
    except ValueError:
        return answer
    for path, value in assignments.items():
        _assign(document, path.split("."), value)
    return json.dumps(document).encode()


def _assign(node: Any, parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    children = node if head == "*" and isinstance(node, list) else [node]
    for child in children:
        if head == "*":
            target = child
            if rest:
                _assign(target, rest, value)
            continue
        if not isinstance(child, dict):
            continue
        if not rest:
            child[head] = value
        elif head in child:
            _assign(child[head], rest, value)


def _mutating(signature: str) -> bool:
    """From ``"<X-Amz-Target operation> <method> <path>"``: JSON APIs name the operation,
    REST APIs (S3, Lambda, CloudFront) change things with PUT, POST and DELETE."""
    operation, method, _ = signature.split(" ", 2)
    if operation:
        return not operation.startswith(("Describe", "Get", "List"))
    return method in ("PUT", "POST", "DELETE", "PATCH")
