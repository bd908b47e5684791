"""Masking secrets in anything pinback prints or stores.

Database URLs carry passwords; a driver's error may quote one. Every line that
leaves pinback for a person passes through ``redact``.
"""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s]+)@"
)
_KEY_VALUE = re.compile(r"(?i)\b(password|passwd|secret|token)=([^\s&;]+)")


def redact(text: str) -> str:
    """``postgresql://app:s3cret@db/x`` -> ``postgresql://app:***@db/x``; ``password=x`` -> ``password=***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _KEY_VALUE.sub(lambda m: f"{m[1]}=***", text)
