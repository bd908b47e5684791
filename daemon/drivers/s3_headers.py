"""What an S3 object carries besides its bytes, kept when pinback copies or re-stamps it.

A copy with ``MetadataDirective: REPLACE`` (how ``index.html`` gets its ``git-commit``
stamp) drops every header not given again, and any copy takes the destination bucket's
default encryption unless told otherwise
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html). A pre-compressed page
that loses ``Content-Encoding: gzip`` is served as garbage; an object encrypted with a
customer's KMS key must stay so. These are the headers and encryption settings copied
through, read from the source's ``HeadObject``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

HEADERS = (
    "ContentType",
    "CacheControl",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "WebsiteRedirectLocation",
)
ENCRYPTION = ("ServerSideEncryption", "SSEKMSKeyId", "BucketKeyEnabled")


def headers(head: Mapping[str, Any]) -> dict[str, Any]:
    """The ``CopyObject``/``PutObject`` arguments that give an object ``head``'s headers."""
    kept = {name: head[name] for name in HEADERS if head.get(name)}
    expires = head.get("Expires")
    if isinstance(expires, dt.datetime):
        kept["Expires"] = expires
    return kept


def encryption(head: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments that keep ``head``'s server-side encryption (SSE-S3 or SSE-KMS)."""
    if head.get("ServerSideEncryption") not in ("AES256", "aws:kms", "aws:kms:dsse"):
        return {}
    return {name: head[name] for name in ENCRYPTION if head.get(name) is not None}
