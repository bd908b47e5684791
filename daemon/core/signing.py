"""HMAC-SHA256 signatures in GitHub's form (``sha256=<hex>``): the one signer of the webhooks
pinback sends (``X-Pinback-Signature-256``) and the one check of the git pushes it receives
(``X-Hub-Signature-256``)."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_by(secret: str, body: bytes, signature: str) -> bool:
    """True when ``signature`` is ``body``'s under ``secret`` (compared in constant time)."""
    return hmac.compare_digest(signature.encode(), sign(secret, body).encode())
