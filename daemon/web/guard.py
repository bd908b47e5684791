"""Who may ask the listener what (DESIGN section 17): decided from a request's method, path
and headers alone, before any body is read. No I/O.

- ``/metrics``, ``/healthz`` and ``/readyz`` answer anyone: Prometheus and probes.
- Every other endpoint (``/status``, ``/versions``, ``/events``, the page, ``POST
  /reconcile``) needs the bearer token of ``daemon.apiTokenEnv`` when one is set (compared in
  constant time). A listener on a non-loopback address without a token serves the three
  open endpoints alone: anything the network can reach would otherwise read the fleet's
  state and trigger passes.
- A ``POST`` needs no ``Origin`` or one in ``daemon.allowedOrigins`` (a web page a person
  on the VPN opens cannot make it), and every guarded request a ``Host`` of the listener's
  own names when it listens on a named address (DNS rebinding).
- ``POST /hooks/git`` carries no token (GitHub signs it instead): it is refused before its
  body is read unless a webhook is configured and the request carries a signature.
- A body is read only with a valid ``Content-Length`` (missing, negative or not a number:
  400), at most ``MAX_BODY``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

OPEN = frozenset({"/metrics", "/healthz", "/readyz"})
HOOK = "/hooks/git"
MAX_BODY = 1024 * 1024  # 1 MiB: a GitHub push of a pin change is a few KiB


@dataclass(frozen=True)
class Refusal:
    status: int
    error: str


@dataclass(frozen=True)
class Policy:
    token: str | None  # the bearer token, None: none set
    loopback: bool  # the listener's address is a loopback one
    hosts: frozenset[str]  # the Host values that name it; empty: not checked (a wildcard)
    origins: frozenset[str]  # the Origins a POST may come from

    @classmethod
    def of(cls, host: str, port: int, token: str | None, origins: tuple[str, ...] = ()) -> Policy:
        loopback = _is_loopback(host)
        names: set[str] = set()
        if not _is_wildcard(host):
            shown = f"[{host}]" if ":" in host else host
            names = {f"{shown}:{port}"}
            if loopback:
                names |= {f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}
        return cls(token or None, loopback, frozenset(names), frozenset(origins))

    @property
    def serves_only_open(self) -> bool:
        """True when only /metrics, /healthz and /readyz may be served."""
        return not self.loopback and self.token is None


def admit(policy: Policy, method: str, path: str, headers: Mapping[str, str]) -> Refusal | None:
    """Why the request is refused, or None to serve it. ``headers`` with lower-case names."""
    if path in OPEN and method == "GET":
        return None
    if path == HOOK and method == "POST":
        return None  # signed, not tokened: checked by hook_refusal
    if policy.serves_only_open:
        return Refusal(
            403,
            "this listener is not on a loopback address and has no daemon.apiTokenEnv: it "
            "serves /metrics, /healthz and /readyz only",
        )
    if policy.hosts and headers.get("host", "") not in policy.hosts:
        return Refusal(421, "this request names another host (Host header)")
    if policy.token is not None and not _bearer(headers.get("authorization", ""), policy.token):
        return Refusal(401, "a bearer token is needed (Authorization: Bearer ...)")
    if method == "POST":
        origin = headers.get("origin")
        if origin is not None and origin not in policy.origins:
            return Refusal(403, f"requests from {origin} are not allowed (daemon.allowedOrigins)")
    return None


def hook_refusal(configured: bool, headers: Mapping[str, str]) -> Refusal | None:
    """Why ``POST /hooks/git`` is refused before its body is read, or None."""
    if not configured:
        return Refusal(404, "no git webhook is configured (desiredState.git.webhookSecretEnv)")
    if not headers.get("x-hub-signature-256", "").startswith("sha256="):
        return Refusal(401, "missing X-Hub-Signature-256")
    return None


def body_length(headers: Mapping[str, str], required: bool) -> int | Refusal:
    """The body's declared length, or why it will not be read."""
    declared = headers.get("content-length")
    if declared is None:
        return Refusal(400, "Content-Length is required") if required else 0
    if not declared.isdigit():
        return Refusal(400, "Content-Length must be a whole number of bytes")
    length = int(declared)
    if length > MAX_BODY:
        return Refusal(413, f"the body may be at most {MAX_BODY} bytes")
    return length


def _bearer(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def _is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
