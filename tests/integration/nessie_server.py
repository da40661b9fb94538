"""The Nessie server of ``pytest -m integration``.

``ci/services/nessie.sh`` fetches (once, cached) Nessie 0.95.0 — its REST resources, services and
in-memory version store, hosted by Jersey (see ``ci/services/nessie/NessieServer.java``) — and
prints the path of a runnable jar. :func:`start_nessie` runs it on a loopback port the OS picks,
waits until ``/api/v2/config`` answers and hands back a :class:`NessieServer`; the server dies
with its stdin, so a crashed test run leaves nothing behind.

One server serves the whole session; :meth:`NessieServer.fresh_repo` empties it between tests
(every ref but ``main`` dropped, ``main`` assigned back to the empty commit), which is what a
brand-new repository looks like through the API.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from branchops.catalog.base import NO_ANCESTOR
from branchops.catalog.nessie.client import NessieClient

try:
    from services import ServerProcess, ServiceError, find_java, run_service_script
except ImportError:  # imported as integration.nessie_server
    from .services import ServerProcess, ServiceError, find_java, run_service_script  # type: ignore[no-redef]

if TYPE_CHECKING:
    import pytest

NESSIE_JAVA = 17  # Nessie 0.95.0 is the last release whose server runs on Java 17
_URI_LINE = re.compile(r"^NESSIE_URI=(\S+)$", re.MULTILINE)


@dataclass
class NessieServer:
    process: ServerProcess
    uri: str  # the API v2 root, e.g. http://127.0.0.1:41234/api/v2

    def client(self) -> NessieClient:
        return NessieClient(self.uri, retries=1)

    def fresh_repo(self) -> str:
        """Empty the repository (only an empty ``main`` left) and return the API URI."""
        api = self.client()
        try:
            for ref in api.list_references():
                if ref.name != "main":
                    api.delete_reference(ref.name, ref.hash, ref.type)
            main = api.get_reference("main")
            if main.hash != NO_ANCESTOR:
                api.assign_reference("main", main.hash, "BRANCH", NO_ANCESTOR)
        finally:
            api.close()
        return self.uri

    def stop(self) -> None:
        self.process.stop()


def _ready(process: ServerProcess, found: dict[str, str]) -> bool:
    m = _URI_LINE.search(process.log_tail(200_000))
    if not m:
        return False
    found["uri"] = m.group(1)
    # 401: a server started with authentication answers, it just wants a token
    return httpx.get(found["uri"] + "/config", timeout=5).status_code in (200, 401)


def start_nessie(
    log_dir: Path, *, heap: str = "512m", timeout: float = 180, port: int = 0,
    args: Sequence[str] = (), env: Mapping[str, str] | None = None, config: pytest.Config | None = None,
) -> NessieServer:
    """Fetch (if needed) and start a Nessie server on a loopback port (0: a free one); fail loudly.

    ``args``/``env``: more launcher options, e.g. ``--protected main --protected-writers ci-merge``
    with ``NESSIE_AUTH_TOKENS`` (see ci/services/nessie/NessieServer.java).
    """
    jar = run_service_script("nessie.sh", config=config)  # config: progress past pytest's capture
    if not Path(jar).is_file():
        raise ServiceError(f"ci/services/nessie.sh printed {jar!r}, which is not a file")
    java = find_java(NESSIE_JAVA)
    argv = [str(java), f"-Xmx{heap}", "-XX:+UseSerialGC", "-Xss512k", "-jar", jar,
            "--host", "127.0.0.1", "--port", str(port), "--exit-on-eof", "true", *args]
    process = ServerProcess.start("nessie", argv, log=log_dir / "nessie.log", env=env)
    found: dict[str, str] = {}
    started = time.monotonic()
    process.wait_until(lambda: _ready(process, found), timeout=timeout, interval=0.25)
    process.extra["startup_seconds"] = f"{time.monotonic() - started:.1f}"
    return NessieServer(process, found["uri"])
