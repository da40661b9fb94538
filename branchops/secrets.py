"""Keeping secrets out of everything branchops prints, logs or posts."""

from __future__ import annotations

import os
import re

#: environment variables whose values must never be shown
SECRET_ENV = (
    "BRANCHOPS_NESSIE_TOKEN",
    "BRANCHOPS_TRINO_PASSWORD",
    "BRANCHOPS_TRINO_JWT",
    "BRANCHOPS_GITLAB_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
_extra: set[str] = set()


def register_secret(value: str | None) -> None:
    """Also hide ``value`` (a token read from somewhere other than the environment)."""
    if value and len(value) >= 4:
        _extra.add(value)


def redact(text: str) -> str:
    """``text`` with every known secret value and URL password replaced by ``***``."""
    values = {os.environ.get(name, "") for name in SECRET_ENV} | _extra
    for value in sorted((v for v in values if len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, "***")
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)
