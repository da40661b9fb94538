"""HTTP to a Nessie server: requests with bounded retries, and failures as branchops errors.

:class:`NessieTransport` is the base of :class:`~branchops.catalog.nessie.client.NessieClient`;
it knows nothing of Nessie's resources. A ref that is not there -> :class:`RefNotFound`, a name
that is taken -> :class:`RefAlreadyExists`, a ref not at the expected hash ->
:class:`ReferenceConflict` (:class:`BackendConflict` when Nessie names no hashes), keys changed on
both sides of a merge -> :class:`MergeConflict` (:func:`merge_conflict`), a server that is down
or failing -> :class:`BackendError` after a bounded number of retries. No message ever holds
the bearer token.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from branchops.catalog.nessie.models import ContentKey, key_str
from branchops.errors import (
    BackendError,
    BranchopsError,
    ConfigError,
    MergeConflict,
    PermissionDenied,
    RefAlreadyExists,
    ReferenceConflict,
    RefNotFound,
    UsageError,
)

# 502/503/504 mean the request did not reach (or was not finished by) Nessie: safe to resend
# even a commit. Other 5xx are resent only for reads, assigns and deletes (idempotent here).
_GATEWAY = {502, 503, 504}
_IDEMPOTENT = {"GET", "PUT", "DELETE", "HEAD"}
_NOT_AT_HASH = re.compile(r"expected hash '([0-9a-f]+)', but at '([0-9a-f]+)'")
_CONFLICT_KEYS = re.compile(r"'([^']+)'")


class NessieTransport:
    """JSON requests to a Nessie API root, e.g. ``http://nessie:19120/api/v2``.

    ``client`` may be any ``httpx.Client`` (tests inject a transport); by default one is made.
    """

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.25,
    ) -> None:
        self.uri = uri.rstrip("/")
        self._token = token
        self._own_client = client is None
        self._http = client if client is not None else httpx.Client(timeout=timeout)
        self.retries = retries
        self.backoff = backoff

    @property
    def safe_uri(self) -> str:
        """The URI without any user:password part, for messages."""
        parts = urlsplit(self.uri)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def close(self) -> None:
        if self._own_client:
            self._http.close()

    def _redact(self, text: str) -> str:
        if self._token:
            text = text.replace(self._token, "***")
        return text

    def _request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        url = self.uri + path
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                resp = self._http.request(method, url, params=clean, json=json, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                if last:
                    raise self._down(f"cannot connect ({type(e).__name__})") from None
            except httpx.TransportError as e:
                if last or method not in _IDEMPOTENT:
                    raise self._down(f"the connection failed ({type(e).__name__})") from None
            else:
                if resp.status_code < 400:
                    return resp.json() if resp.content else None
                retry = resp.status_code in _GATEWAY or (resp.status_code >= 500 and method in _IDEMPOTENT)
                if last or not retry:
                    raise self._error(resp)
            time.sleep(self.backoff * (2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def _down(self, what: str) -> BackendError:
        return BackendError(
            self._redact(f"Nessie at {self.safe_uri} is unavailable: {what}, after {self.retries + 1} tries"),
            unchanged="nothing was written by this request",
            hint="check that the Nessie server is running and reachable (nessie_uri), then retry",
        )

    def _error(self, resp: httpx.Response) -> BranchopsError:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        raw = str(body.get("message") or resp.reason_phrase or "")
        message = self._redact(raw).splitlines()[0][:500] if raw else ""
        code = str(body.get("errorCode") or "")
        status = resp.status_code
        if code == "REFERENCE_NOT_FOUND" or (status == 404 and not code):
            return RefNotFound(f"Nessie: {message}", unchanged="nothing was changed",
                               hint="`branchops branch list` shows the refs")
        if code == "REFERENCE_ALREADY_EXISTS":
            return RefAlreadyExists(f"Nessie: {message}", unchanged="nothing was changed",
                                    hint="pick another name, or drop the existing ref first")
        if code == "REFERENCE_CONFLICT" or status == 409:
            m = _NOT_AT_HASH.search(message)
            if m:
                ref = message.split("'")[1] if "'" in message else "?"
                return ReferenceConflict(ref, m.group(1), m.group(2))
            return BackendConflict(message)
        if status == 403:  # authenticated, and Nessie's authorization rules said no
            return PermissionDenied(
                f"Nessie at {self.safe_uri} refused this job's principal ({status}): {message}",
                permission=message or "the permission Nessie's authorization rules require",
                unchanged="nothing was written",
                hint="this job's token lacks that permission; writes to protected refs belong to the merge and "
                     "nightly jobs (README: Least-privilege credentials)",
            )
        if status == 401:
            return ConfigError(
                f"Nessie at {self.safe_uri} refused the request ({status}): {message}",
                unchanged="nothing was written",
                hint="set a valid token in BRANCHOPS_NESSIE_TOKEN",
            )
        if status < 500:
            return UsageError(f"Nessie refused the request ({status} {code}): {message}",
                              unchanged="nothing was written")
        return BackendError(
            f"Nessie at {self.safe_uri} failed ({status} {code}): {message}",
            unchanged="nothing was written by this request",
            hint="check the Nessie server's log; retry when it is healthy",
        )

    def _pages(self, path: str, items: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._request("GET", path, params={**params, "page-token": token})
            yield from page.get(items) or []
            token = page.get("token")
            if not page.get("hasMore") or not token:
                return


class BackendConflict(ReferenceConflict):
    """Nessie said 409 without naming hashes (e.g. keys changed concurrently); keys are in ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__("?", None, None, hint="re-read the ref and retry")
        self.message = f"Nessie: {message}"
        self.args = (self.message,)

    def keys(self) -> list[str]:
        return _CONFLICT_KEYS.findall(self.message.split(":", 2)[-1])


def merge_conflict(source: str, target: str, keys: Sequence[ContentKey]) -> MergeConflict:
    return MergeConflict(source, target, [key_str(k) for k in keys])
