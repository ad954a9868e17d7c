"""Secrets out of messages: API keys, ``Authorization`` values and URL credentials.

An error body may echo the request's ``Authorization: Bearer sk-...`` header, and a
base URL may carry ``user:password@``; anything shown to the user or logged passes
through :func:`redact` first. Known secrets (the configured API key) can be named
explicitly; the patterns catch the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# "Authorization: Bearer abc", "authorization": "Basic abc", bearer tokens anywhere.
_AUTH = re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|token)\s+)?[^\s\"',;}]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
# OpenAI-style keys: sk-..., sk-proj-..., also common vendor prefixes.
_KEYS = re.compile(r"\b(sk|rk|pk|sess)-[A-Za-z0-9_-]{8,}")
# scheme://user:password@host or scheme://token@host
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@\"'<>]+@")
# ?api_key=...&token=... in URLs, and "api_key": "..." in JSON bodies.
_PARAMS = re.compile(r"(?i)\b(api[_-]?key|access[_-]?token|token|password|secret)([\"']?\s*[=:]\s*[\"']?)[^\s&\"',;}]+")


def redact(text: object, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with credentials masked: each of ``secrets`` verbatim, then
    Authorization values, bearer tokens, ``sk-`` keys, URL user-info and key-like
    query parameters."""
    out = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, MASK)
    out = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", out)
    out = _AUTH.sub(lambda m: f"{m.group(1)}{(m.group(2) + ' ') if m.group(2) else ''}{MASK}", out)
    out = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", out)
    out = _KEYS.sub(lambda m: f"{m.group(1)}-{MASK}", out)
    out = _PARAMS.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", out)
    return out


def redact_url(url: str | None) -> str:
    """A URL fit to print: no user-info, no key-like query parameters."""
    return redact(url or "")
