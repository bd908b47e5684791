"""The controller's HTTP endpoints (DESIGN.md §8) on ``daemon.listen``.

``GET /`` (the status page; ``/events`` streams a line on every change so it follows
live; ``/versions/T`` is ``pinback versions T -o json``), ``/metrics`` (Prometheus
text), ``/healthz`` (the loop is alive), ``/readyz`` (pins loaded and every target observed once), ``/status`` (the ``pinback status -o
json`` document), ``POST /reconcile[?target=T]`` (reset backoff, pass now), and
``POST /hooks/git`` (a signed GitHub push: fetch and pass now). None of them changes
a pin. Standard library server: a handful of
requests a minute from Prometheus and people needs nothing more.
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


EVENTS_KEEPALIVE = 15.0  # seconds between comments on an idle /events stream
MAX_HOOK_BODY = 5 * 1024 * 1024  # GitHub caps push payloads at 25 MB; ours need far less


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _env(query: str) -> str | None:
    """The ``?env=`` of a request, or None."""
    values = parse_qs(query).get("env")
    return values[0] if values else None


def serve(controller: Served, listen: str) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; returns the server (``shutdown()`` stops it)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "pinback"

        def log_message(self, *args: Any) -> None:  # access logs would drown the event log
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path
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
            if parts.path == "/hooks/git":
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_HOOK_BODY:
                    self._json(413, {"error": "payload too large"})
                    return
                body = self.rfile.read(length)
                status, document = controller.git_webhook(body, dict(self.headers.items()))
                self._json(status, document)
                return
            if parts.path != "/reconcile":
                self._json(404, {"error": f"no such endpoint: {parts.path}"})
                return
            targets = parse_qs(parts.query).get("target")
            target = targets[0] if targets else None
            environment = _env(parts.query)
            error = controller.target_error(target, environment)
            if error is not None:
                self._json(404, {"error": error})
                return
            controller.reconcile_now(target, environment)
            self._json(202, {"reconciling": target or "all"})

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
            until the client goes or the controller stops."""
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

    server = ThreadingHTTPServer(parse_listen(listen), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
