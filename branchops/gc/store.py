"""Where gc lists and deletes the warehouse's files: a local folder (``pyarrow.fs``) or S3 (botocore).

On S3, botocore lists with ``list_objects_v2`` and deletes up to 1,000 keys per ``DeleteObjects``
call (Arrow's S3 file system deletes one key per request and leaves empty "directory" marker
objects behind). Endpoint, region and keys are the ones pyiceberg uses (``s3.*`` FileIO
properties: the settings' ``s3_endpoint`` / ``s3_region`` and the standard AWS environment);
without keys botocore finds its own (profile, instance role). Failures become :class:`BackendError`
with the secret keys redacted.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlparse

from pyarrow import fs as pafs

from branchops.errors import BackendError, UsageError
from branchops.secrets import redact

_ACCESS_DENIED = re.compile(
    r"access.?denied|forbidden|\b403\b|InvalidAccessKeyId|SignatureDoesNotMatch|AllAccessDisabled", re.I
)


def normalize(location: str) -> str:
    """One spelling per file: ``file:///a/b`` and ``/a/b`` are the same file; URLs stay URLs."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return parsed.path if parsed.scheme else location
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path}"


def storage_error(e: Exception, what: str, *, unchanged: str) -> BackendError:
    """A failure of the warehouse's storage (S3 refusing, unreachable) as a BackendError."""
    text = redact(f"{e}".strip() or type(e).__name__)
    if _ACCESS_DENIED.search(text):
        hint = ("check the S3 credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the "
                "machine's role): gc needs to list, read and delete in the warehouse bucket")
    else:
        hint = "check that the warehouse (warehouse, s3_endpoint) is reachable, then run gc again"
    return BackendError(f"gc could not {what}: {text}", unchanged=unchanged, hint=hint)


def is_access_denied(e: Exception) -> bool:
    return bool(_ACCESS_DENIED.search(str(e)))


@dataclass(frozen=True)
class StoredFile:
    path: str  # normalized, comparable with referenced locations
    size: int
    mtime: datetime


class WarehouseStore(ABC):
    """Listing and deleting the files under the warehouse."""

    #: how many files one :meth:`delete` call takes
    BATCH: ClassVar[int] = 1

    def __init__(self, warehouse: str) -> None:
        self.warehouse = warehouse.rstrip("/")

    @abstractmethod
    def check(self) -> None:
        """Fail early (BackendError) when the warehouse cannot be listed: before gc changes anything."""

    @abstractmethod
    def list(self) -> Iterator[StoredFile]:
        """Every file under the warehouse. Raises BackendError."""

    @abstractmethod
    def delete(self, paths: Sequence[str]) -> None:
        """Delete these files (at most ``BATCH``); a missing one is fine. Raises BackendError."""


def open_store(warehouse: str, io_properties: dict[str, str]) -> WarehouseStore:
    scheme = urlparse(warehouse).scheme
    if scheme in ("s3", "s3a"):
        return S3Store(warehouse, io_properties)
    if scheme in ("", "file"):
        return LocalStore(warehouse)
    raise UsageError(f"gc cannot list a {scheme}:// warehouse yet", unchanged="no file was deleted")


class LocalStore(WarehouseStore):
    def __init__(self, warehouse: str) -> None:
        super().__init__(warehouse)
        self.fs = pafs.LocalFileSystem()
        self.root = normalize(self.warehouse)

    def check(self) -> None:
        try:
            self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True, recursive=False))
        except OSError as e:
            raise storage_error(e, f"list the warehouse {self.warehouse}",
                                unchanged="no branch was dropped and no file was deleted") from None

    def list(self) -> Iterator[StoredFile]:
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True, recursive=True))
        except OSError as e:
            raise storage_error(e, f"list the warehouse {self.warehouse}", unchanged="no file was deleted") from None
        for f in infos:
            if f.type == pafs.FileType.File:
                mtime = f.mtime or datetime.now(UTC)
                yield StoredFile(f.path, int(f.size or 0), mtime if mtime.tzinfo else mtime.replace(tzinfo=UTC))

    def delete(self, paths: Sequence[str]) -> None:
        for path in paths:
            try:
                self.fs.delete_file(path)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise storage_error(e, f"delete {path}", unchanged="every file a ref uses is still there") from None


class S3Store(WarehouseStore):
    BATCH: ClassVar[int] = 1000

    def __init__(self, warehouse: str, io_properties: dict[str, str]) -> None:
        super().__init__(warehouse)
        parsed = urlparse(self.warehouse)
        self.scheme, self.bucket, self.prefix = parsed.scheme, parsed.netloc, parsed.path.strip("/")
        self.client = _s3_client(io_properties)

    def _call(self, what: str, unchanged: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as e:
            raise storage_error(e, what, unchanged=unchanged) from None

    def check(self) -> None:
        self._call(f"list the warehouse {self.warehouse}", "no branch was dropped and no file was deleted",
                   self.client.list_objects_v2, Bucket=self.bucket, Prefix=self._dir(), MaxKeys=1)

    def _dir(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    def list(self) -> Iterator[StoredFile]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._dir())
        it = iter(pages)
        while True:
            page = self._next_page(it)
            if page is None:
                return
            for obj in page.get("Contents", []):
                key = str(obj["Key"])
                if key.endswith("/"):
                    continue  # a "directory" marker, not a file
                yield StoredFile(f"{self.scheme}://{self.bucket}/{key}", int(obj.get("Size", 0)),
                                 obj.get("LastModified") or datetime.now(UTC))

    def _next_page(self, pages: Iterator[Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return next(pages, None)
        except (ClientError, BotoCoreError) as e:
            raise storage_error(e, f"list the warehouse {self.warehouse}", unchanged="no file was deleted") from None

    def delete(self, paths: Sequence[str]) -> None:
        if not paths:
            return
        keys = [p.split("://", 1)[1].split("/", 1)[1] for p in paths]
        unchanged = "every file a ref uses is still there"
        res = self._call(f"delete {len(keys)} file(s)", unchanged, self.client.delete_objects, Bucket=self.bucket,
                         Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
        errors = [e for e in res.get("Errors", []) if e.get("Code") != "NoSuchKey"]
        if errors:
            first = errors[0]
            raise storage_error(
                RuntimeError(f"{first.get('Code')}: {first.get('Message')} ({first.get('Key')}; "
                             f"{len(errors)} of {len(keys)} keys refused)"),
                f"delete {len(errors)} file(s)", unchanged=unchanged,
            )


def _s3_client(props: dict[str, str]) -> Any:
    # botocore, not boto3: it comes with pyiceberg's s3fs through aiobotocore, which pins the
    # range it accepts; a direct boto3 dependency is what sent pip backtracking on fresh installs.
    import botocore.session
    from botocore.config import Config

    endpoint = props.get("s3.endpoint")
    virtual = props.get("s3.force-virtual-addressing", "").lower() == "true"
    config = Config(s3={"addressing_style": "virtual" if virtual or not endpoint else "path"},
                    retries={"max_attempts": 3, "mode": "standard"})
    return botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name=props.get("s3.region"), config=config,
        aws_access_key_id=props.get("s3.access-key-id"), aws_secret_access_key=props.get("s3.secret-access-key"),
        aws_session_token=props.get("s3.session-token"),
    )
