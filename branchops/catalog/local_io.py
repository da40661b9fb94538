"""A read-only pyiceberg ``FileIO`` for metadata on the local disk, without pyarrow.

pyiceberg's default ``FileIO`` for local paths is ``PyArrowFileIO``, whose module imports
``pyarrow.compute``, ``pyarrow.dataset`` and ``pyarrow.fs`` (about 0.13 s of a process that only
reads a metadata file and its manifests, as a diff does). :class:`MetadataReadIO` opens local
files with ``open``; anything else (another scheme, an output, a delete) goes to the ``FileIO``
pyiceberg would choose, created on first need. It suits readers that plan from metadata (the
diff) and not pyiceberg's own scans, which want a ``PyArrowFileIO``
(``VersionedCatalog.load_table(..., scans=False)``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from pyiceberg.io import PY_IO_IMPL, FileIO, InputFile, InputStream, OutputFile, load_file_io

if TYPE_CHECKING:
    from pyiceberg.typedef import Properties


def local_path(location: str) -> str | None:
    """The path on this machine of ``location`` (a bare path or ``file:`` URI), else None."""
    parsed = urlparse(location)
    if parsed.scheme == "" and not parsed.netloc:
        return os.path.abspath(location)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return parsed.path
    return None


class LocalInputFile(InputFile):
    def __init__(self, location: str, path: str) -> None:
        super().__init__(location)
        self._path = path

    def __len__(self) -> int:
        return os.path.getsize(self._path)

    def exists(self) -> bool:
        return os.path.exists(self._path)

    def open(self, seekable: bool = True) -> InputStream:
        return open(self._path, "rb")  # the caller closes it (as with pyiceberg's own FileIO)


class MetadataReadIO(FileIO):
    """Local files read with ``open``; everything else through pyiceberg's choice of ``FileIO``."""

    def __init__(self, properties: Properties, location: str) -> None:
        super().__init__(properties)
        self._location = location
        self._fallback: FileIO | None = None

    def _full(self) -> FileIO:
        if self._fallback is None:
            self._fallback = load_file_io(properties=self.properties, location=self._location)
        return self._fallback

    def new_input(self, location: str) -> InputFile:
        path = local_path(location)
        return self._full().new_input(location) if path is None else LocalInputFile(location, path)

    def new_output(self, location: str) -> OutputFile:
        return self._full().new_output(location)

    def delete(self, location: str | InputFile | OutputFile) -> None:
        self._full().delete(location)


def metadata_read_io(properties: Properties, location: str) -> FileIO:
    """:class:`MetadataReadIO` for a table at a local ``location`` whose properties choose no
    ``FileIO`` or default scheme of their own; else the ``FileIO`` pyiceberg chooses."""
    chosen = PY_IO_IMPL in properties or "DEFAULT_SCHEME" in properties
    if chosen or local_path(location) is None:
        return load_file_io(properties=properties, location=location)
    return MetadataReadIO(properties, location)
