"""The controller's HTTP endpoints (DESIGN.md §8) on ``daemon.listen``.

``GET /`` (the status page; ``/events`` streams a line on every change so it follows
live; ``/versions/T`` is ``pinback versions T -o json``), ``/metrics`` (Prometheus
text), ``/healthz`` (the loop is alive), ``/readyz`` (pins loaded and every target observed once), ``/status`` (the ``pinback status -o
json`` document), ``POST /reconcile[?target=T]`` (reset backoff, pass now), and
``POST /hooks/git`` (a signed GitHub push: fetch and pass now). None of them changes
a pin. Standard library server: a handful of
requests a minute from Prometheus and people needs nothing more.

Who may ask what is ``daemon.web.guard``'s, decided before a body is read. Every
connection has a read timeout (``READ_TIMEOUT``), at most ``CONNECTIONS`` are served at
once and ``STREAMS`` of them may be ``/events`` streams; a request over a cap is answered
503 at once, so a flood of half-sent requests holds no thread for long and never starves
the controller's passes of file descriptors.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from daemon.controller.readcache import ReadBudgetSpent
from daemon.errors import NotChosen, PinbackError
from daemon.views import page
from daemon.web import guard
from daemon.web.guard import Policy, Refusal


class Served(Protocol):
    """What the endpoints need from the controller (``daemon.controller.fleet.Fleet``).

    ``environment`` is the request's ``?env=``: with several environments in one process
    it names the one a target belongs to; None means every one."""

    def target_error(self, target: str | None, environment: str | None) -> str | None: ...

    @property
    def stopping(self) -> threading.Event: ...

    def healthy(self) -> bool: ...

    def ready(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...

    def reconcile_now(self, target: str | None = None, environment: str | None = None) -> None: ...

    def metrics_text(self) -> bytes: ...

    def page_view(self) -> dict[str, Any]: ...

    def wait_change(self, seen: int, timeout: float) -> int: ...

    def versions_json(self, target: str, environment: str | None = None) -> dict[str, Any]: ...

    def git_webhook(
        self, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]: ...

    def git_webhook_configured(self) -> bool: ...


EVENTS_KEEPALIVE = 15.0  # seconds between comments on an idle /events stream
READ_TIMEOUT = 10.0  # seconds a connection may take to send its request
CONNECTIONS = 64  # connections served at once
STREAMS = 32  # of which /events streams
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _env(query: str) -> str | None:
    """The ``?env=`` of a request, or None."""
    values = parse_qs(query).get("env")
    return values[0] if values else None


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``connections`` at once: one over is answered 503
    and closed without a thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, connections: int) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(connections)
        self.streams = threading.BoundedSemaphore(STREAMS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def serve(
    controller: Served, listen: str, token: str | None = None, origins: tuple[str, ...] = ()
) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; returns the server (``shutdown()`` stops it).
    ``token`` (``daemon.apiTokenEnv``'s value) and ``origins`` (``daemon.allowedOrigins``)
    make the guard's policy, with the address the server is bound to."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "pinback"
        timeout = READ_TIMEOUT  # per connection: the socket's timeout for every read

        def log_message(self, *args: Any) -> None:  # access logs would drown the event log
            pass

        def _refused(self, method: str, path: str) -> bool:
            """Answer a request the guard refuses; True when it was."""
            assert admitted is not None
            headers = {k.lower(): v for k, v in self.headers.items()}
            refusal = guard.admit(admitted, method, path, headers)
            if refusal is None:
                return False
            self._refuse(refusal)
            return True

        def _refuse(self, refusal: Refusal) -> None:
            self.close_connection = True  # an unread body must not be read as a request
            extra = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else None
            self._json(refusal.status, {"error": refusal.error}, extra)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            if self._refused("GET", path):
                return
            if path == "/":
                view = controller.page_view()
                part = parse_qs(parts.query).get("part") == ["live"]
                html = page.live(view) if part else page.page(view)
                self._send(200, html.encode(), "text/html; charset=utf-8", page.POLICY)
            elif path == "/events":
                self._events()
            elif path.startswith("/versions/"):
                self._versions(unquote(path.removeprefix("/versions/")), _env(parts.query))
            elif path == "/metrics":
                self._send(200, controller.metrics_text(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok = controller.healthy()
                self._json(200 if ok else 503, {"ok": ok})
            elif path == "/readyz":
                ok = controller.ready()
                self._json(200 if ok else 503, {"ready": ok})
            elif path == "/status":
                self._json(200, controller.status())
            else:
                self._json(404, {"error": f"no such endpoint: {path}"})

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            if parts.path not in (guard.HOOK, "/reconcile"):
                self.close_connection = True
                self._json(404, {"error": f"no such endpoint: {parts.path}"})
                return
            if self._refused("POST", parts.path):
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            if parts.path == guard.HOOK:
                self._hook(headers)
                return
            length = guard.body_length(headers, required=False)
            if isinstance(length, Refusal):
                self._refuse(length)
                return
            self.close_connection = length > 0  # a body /reconcile ignores is never read
            targets = parse_qs(parts.query).get("target")
            target = targets[0] if targets else None
            environment = _env(parts.query)
            error = controller.target_error(target, environment)
            if error is not None:
                self._json(404, {"error": error})
                return
            controller.reconcile_now(target, environment)
            self._json(202, {"reconciling": target or "all"})

        def _hook(self, headers: Mapping[str, str]) -> None:
            """The signed GitHub push: its body read only once a webhook is configured, the
            request is signed and declares a valid length, and never beyond it."""
            refusal = guard.hook_refusal(controller.git_webhook_configured(), headers)
            length = guard.body_length(headers, required=True) if refusal is None else 0
            if refusal is None and isinstance(length, Refusal):
                refusal = length
            if refusal is not None:
                self._refuse(refusal)
                return
            assert isinstance(length, int)
            body = self.rfile.read(length)
            status, document = controller.git_webhook(body, dict(self.headers.items()))
            self._json(status, document)

        def _versions(self, target: str, environment: str | None) -> None:
            error = controller.target_error(target, environment)
            if error is not None:
                self._json(404, {"error": error})
                return
            try:
                self._json(200, controller.versions_json(target, environment))
            except NotChosen as exc:  # a target of several environments, none named
                self._json(400, {"error": str(exc)})
            except ReadBudgetSpent as exc:
                retry = str(max(1, round(exc.retry_after)))
                self._json(429, {"error": str(exc)}, {"Retry-After": retry})
            except PinbackError as exc:
                self._json(502, {"error": str(exc)})

        def _events(self) -> None:
            """Server-Sent Events: ``data: N`` on every change, a comment while idle,
            until the client goes or the controller stops; at most ``STREAMS`` at once."""
            streams = self.server.streams  # type: ignore[attr-defined]
            if not streams.acquire(blocking=False):
                self._json(503, {"error": "too many /events streams"}, {"Retry-After": "5"})
                return
            try:
                self._stream()
            finally:
                streams.release()

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = controller.wait_change(-1, 0)
            try:
                self.wfile.write(b"retry: 2000\n\n")
                self.wfile.flush()
                while not controller.stopping.is_set():
                    now = controller.wait_change(seen, EVENTS_KEEPALIVE)
                    if now != seen:
                        seen = now
                        self.wfile.write(f"data: {now}\n\n".encode())
                    else:
                        self.wfile.write(b": idle\n\n")
                    self.wfile.flush()
            except OSError:  # the browser went away
                return
            self.close_connection = True

        def _json(
            self, status: int, document: object, headers: Mapping[str, str] | None = None
        ) -> None:
            body = json.dumps(document, default=str).encode()
            self._send(status, body, "application/json", headers=headers)

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            policy: str | None = None,
            headers: Mapping[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if policy:
                self.send_header("Content-Security-Policy", policy)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = BoundedServer(parse_listen(listen), Handler, CONNECTIONS)
    host, port = server.server_address[:2]
    admitted: Policy | None = Policy.of(str(host), int(port), token, origins)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
