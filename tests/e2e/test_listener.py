"""Who may ask the running controller what (DESIGN section 17), tried against ``pinback run``
on a free port with raw sockets where a client would misbehave: bodies with a bad length,
half-sent requests, requests from a web page, and a listener beyond loopback."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.stands.daemon_process import Daemon
from tests.stands.service import Service, config_copy
from tests.stands.waiting import eventually

# daemon.controller.manager.RECONCILE_WINDOW: POST /reconcile requests coalesce over it
RECONCILE_WINDOW = 1.0


def raw(url: str, request: bytes, wait: float = 5.0) -> bytes:
    """Send ``request`` as is and read the answer until the server closes or ``wait``."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=wait) as connection:
        connection.sendall(request)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and b"Content-Length: " in answer:
                    head, _, body = answer.partition(b"\r\n\r\n")
                    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                    if len(body) >= length:
                        break
        except TimeoutError:
            pass
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


@pytest.fixture
def daemon(service: Service, tmp_path: Path) -> Daemon:
    started = Daemon.on(config_copy(tmp_path), service.current_pins())
    eventually(started.ready, timeout=30, what="ready")
    yield started  # type: ignore[misc]
    started.stop()


def test_a_hook_with_no_webhook_configured_is_answered_before_its_body(daemon: Daemon) -> None:
    """``Content-Length: -1`` on /hooks/git used to read until the client stopped: the answer
    (404, no webhook) now comes before any body is sent."""
    answer = raw(
        daemon.url,
        b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\n"
        b"Content-Length: -1\r\n\r\n",
    )
    assert status_of(answer) == 404, answer


@pytest.mark.parametrize("length", [b"abc", b"-1", b"99999999999"])
def test_a_reconcile_with_a_bad_length_is_refused_not_crashed(
    daemon: Daemon, length: bytes
) -> None:
    """Not a number, negative, or past 1 MiB: a sentence and a status, never a traceback or a
    dropped connection."""
    host = daemon.url.removeprefix("http://").encode()
    answer = raw(
        daemon.url,
        b"POST /reconcile HTTP/1.1\r\nHost: "
        + host
        + b"\r\nContent-Length: "
        + length
        + b"\r\n\r\n",
    )
    assert status_of(answer) in (400, 413), answer
    assert b"Traceback" not in daemon.log().encode()


def test_half_sent_requests_do_not_hold_the_listener(daemon: Daemon) -> None:
    """A hundred connections that send half a request and stop: those over the cap get 503
    at once, the server cuts each after its read timeout (10 s), and serves again after."""
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    slow = []
    for _ in range(100):
        connection = socket.create_connection((host, int(port)), timeout=30)
        connection.sendall(b"GET /status HTTP/1.1\r\nHost: ")
        slow.append(connection)
    try:
        started = time.monotonic()
        busy = raw(daemon.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(busy) in (200, 503), busy
        assert time.monotonic() - started < 5  # answered at once, even when refused
        first = slow[0]
        cut = first.recv(65536)  # blocks until the server gives up on it
        assert cut == b"" or cut.startswith(b"HTTP/1.1 408"), cut
        assert time.monotonic() - started < 20
        eventually(
            lambda: status_of(raw(daemon.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")) == 200,
            timeout=30,
            what="the listener free again",
            interval=0.5,
        )
    finally:
        for connection in slow:
            connection.close()


def test_a_web_page_cannot_post_and_a_rebound_name_cannot_read(daemon: Daemon) -> None:
    """A page a person on the VPN opens posts to /reconcile (a browser's simple request, with
    its Origin): refused. A DNS name rebound to 127.0.0.1 reads /status (a foreign Host):
    refused. The controller's own names pass."""
    host = daemon.url.removeprefix("http://").encode()
    evil = raw(
        daemon.url,
        b"POST /reconcile HTTP/1.1\r\nHost: " + host + b"\r\nOrigin: https://evil.example\r\n"
        b"Content-Length: 0\r\n\r\n",
    )
    assert status_of(evil) == 403, evil
    rebound = raw(daemon.url, b"GET /status HTTP/1.1\r\nHost: evil.example:9464\r\n\r\n")
    assert status_of(rebound) == 421, rebound
    own = raw(
        daemon.url, b"POST /reconcile HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: 0\r\n\r\n"
    )
    assert status_of(own) == 202, own


def test_reconcile_requests_coalesce(daemon: Daemon) -> None:
    """A hundred POST /reconcile in a burst make a couple of passes, not a hundred."""
    host = daemon.url.removeprefix("http://").encode()
    daemon.more_passes(1)
    before = len(daemon.events("pass_finished"))
    for _ in range(100):
        answer = raw(
            daemon.url,
            b"POST /reconcile HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: 0\r\n\r\n",
        )
        assert status_of(answer) == 202
    daemon.more_passes(1)
    # An absence is asserted: any pass the burst still causes starts within the window.
    time.sleep(RECONCILE_WINDOW + 0.5)
    assert len(daemon.events("pass_finished")) - before <= 4


def test_with_a_token_only_the_probes_are_open(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With daemon.apiTokenEnv set, /status needs the bearer token; /metrics does not."""
    monkeypatch.setenv("PINBACK_API_TOKEN", "s3cret-token")
    config = config_copy(
        tmp_path,
        {
            "  listen: 127.0.0.1:9464\n": "  listen: 127.0.0.1:9464\n  apiTokenEnv: PINBACK_API_TOKEN\n"
        },
    )
    daemon = Daemon.on(config, service.current_pins())
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        host = daemon.url.removeprefix("http://").encode()
        bare = raw(daemon.url, b"GET /status HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        wrong = raw(
            daemon.url,
            b"GET /status HTTP/1.1\r\nHost: " + host + b"\r\nAuthorization: Bearer nope\r\n\r\n",
        )
        right = raw(
            daemon.url,
            b"GET /status HTTP/1.1\r\nHost: "
            + host
            + b"\r\nAuthorization: Bearer s3cret-token\r\n\r\n",
        )
        metrics = raw(daemon.url, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        daemon.stop()
    assert (status_of(bare), status_of(wrong), status_of(right), status_of(metrics)) == (
        401,
        401,
        200,
        200,
    )


def test_beyond_loopback_without_a_token_only_the_probes_are_served(
    service: Service, tmp_path: Path
) -> None:
    """Listening on every address with no token: /metrics answers, /status does not, and
    the controller says so when it starts."""
    daemon = Daemon(
        "--config",
        str(config_copy(tmp_path)),
        "--state",
        str(service.current_pins()),
        "--listen",
        "0.0.0.0:0",
    )
    try:
        eventually(daemon.ready, timeout=30, what="ready")
        url = daemon.url.replace("0.0.0.0", "127.0.0.1")
        status = raw(url, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        metrics = raw(url, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        warned = daemon.event("listener_open_only")
    finally:
        daemon.stop()
    assert (status_of(status), status_of(metrics)) == (403, 200)
    assert warned is not None
