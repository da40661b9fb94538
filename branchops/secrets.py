"""Keeping secrets out of everything branchops prints, logs or posts."""

from __future__ import annotations

import logging
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


class SecretStr:
    """A secret setting: shown as ``'**********'`` by ``str``/``repr``; the value only through
    :meth:`get_secret_value` (the name and method pydantic's ``SecretStr`` has)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)


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


#: FileIO properties (pyiceberg's names) that hold a secret: never in branchops.toml
SECRET_IO_PROPERTIES = re.compile(
    r"(secret|session-token|password|account-key|sas-token|oauth2\.token|credential|^token$|\.token$)", re.I
)
#: libraries whose debug logs print request headers and credentials (botocore logs the access key id)
CHATTY_LOGGERS = ("botocore", "boto3", "aiobotocore", "s3fs", "fsspec", "urllib3", "httpcore", "httpx", "s3transfer")


class RedactingFilter(logging.Filter):
    """Redacts every record a handler writes (the message with its arguments, and the traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info:
            import traceback

            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return True


def quiet_chatty_loggers() -> None:
    """Keep the libraries that log credentials at WARNING, whatever the root level is."""
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
