"""A single-node Trino server (coordinator and worker in one JVM) for the integration tests.

``ci/services/trino.sh`` fetches and unpacks Trino 476 (server core + the Iceberg plugin); this
module writes a small configuration for a 2-core machine shared with the tests, starts it on a
free loopback port with ``catalog.management=dynamic`` (so branchops can ``CREATE CATALOG`` one
Iceberg catalog per branch) and waits until it answers queries.

Run by hand: ``python tests/integration/trino_server.py`` starts one and prints its URI.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from services import ServerProcess, ServiceError, find_java, free_port, run_service_script

if TYPE_CHECKING:
    import pytest

TRINO_JAVA = 24  # Trino 476 refuses to start on an older JVM

JVM_OPTIONS = (
    "-Xmx2G",
    "-Xms256m",
    "-XX:+UseG1GC",
    "-XX:G1HeapRegionSize=32M",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:ReservedCodeCacheSize=256M",
    "-XX:PerMethodRecompilationCutoff=10000",
    "-XX:PerBytecodeRecompilationCutoff=10000",
    "-XX:+EnableDynamicAgentLoading",
    "-Djdk.attach.allowAttachSelf=true",
    "-Djdk.nio.maxCachedBufferSize=2000000",
    "-Dfile.encoding=UTF-8",
)


def config_properties(port: int, log_levels: Path, *, catalog_dir: Path | None = None) -> str:
    """``catalog_dir`` given: ``catalog.management=static`` with the catalogs in that folder
    (``CREATE CATALOG`` is refused, as on Starburst Galaxy); else dynamic, in memory."""
    catalogs = (["catalog.management=static", f"catalog.config-dir={catalog_dir}"] if catalog_dir else
                ["catalog.management=dynamic", "catalog.store=memory", "catalog.prune.update-interval=1s"])
    return "\n".join([
        f"log.levels-file={log_levels}",
        "coordinator=true",
        "node-scheduler.include-coordinator=true",
        f"http-server.http.port={port}",
        f"discovery.uri=http://127.0.0.1:{port}",
        *catalogs,
        # small and few: the machine has 2 cores and runs the tests and Nessie beside Trino
        "query.max-memory=1GB",
        "query.max-memory-per-node=512MB",
        "memory.heap-headroom-per-node=512MB",
        "task.concurrency=2",
        "task.max-worker-threads=4",
        "query.max-history=50",
        "http-server.log.enabled=false",
        "node.bind-ip=127.0.0.1",
        "node.internal-address=127.0.0.1",
        "",
    ])


@dataclass
class TrinoServer:
    uri: str
    home: Path
    process: ServerProcess
    startup_seconds: float

    @property
    def port(self) -> int:
        return int(self.uri.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.process.stop()

    def failure_causes(self, query_id: str) -> list[str]:
        """The cause chain of a failed query (``type: message`` each), from the coordinator's
        query info: what a client (dbt-trino) reports is only the outermost message."""
        request = urllib.request.Request(f"{self.uri}/v1/query/{query_id}", headers={"X-Trino-User": "test"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                failure = json.loads(resp.read()).get("failureInfo")
        except OSError as e:  # the query left the history (query.max-history) or Trino is gone
            return [f"no query info for {query_id}: {e}"]
        causes: list[str] = []
        while failure:
            causes.append(f"{failure.get('type')}: {failure.get('message')}")
            failure = failure.get("cause")
        return causes


def _ready(uri: str) -> bool:
    with urllib.request.urlopen(f"{uri}/v1/info", timeout=2) as resp:
        info = json.loads(resp.read())
    return not info.get("starting", True)


def start_trino(workdir: Path, *, home: Path | None = None, timeout: float = 240,
                static_catalogs: Mapping[str, Mapping[str, str]] | None = None,
                config: pytest.Config | None = None) -> TrinoServer:
    """Fetch (cached) and start Trino; returns once it serves queries. With pytest's ``config``, a
    cold fetch shows its progress (:func:`services.run_service_script`).

    ``static_catalogs`` (``{name: properties}``, ``connector.name`` included) starts it with
    ``catalog.management=static`` and exactly those catalogs.

    Raises:
        ServiceError: it could not be fetched, found no Java 24+, or did not come up in time.
    """
    home = home or Path(run_service_script("trino.sh", config=config))
    java = find_java(TRINO_JAVA, env_var="TRINO_JAVA_HOME")
    port = free_port()
    etc = workdir / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    # Trino logs every config value at start and Iceberg every commit: keep warnings only
    (etc / "log.properties").write_text("io.trino=WARN\nio.airlift=WARN\norg.apache.iceberg=WARN\nBootstrap=WARN\n")
    catalog_dir: Path | None = None
    if static_catalogs is not None:
        catalog_dir = etc / "catalog"
        catalog_dir.mkdir(exist_ok=True)
        for name, props in static_catalogs.items():
            (catalog_dir / f"{name}.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    (etc / "config.properties").write_text(config_properties(port, etc / "log.properties", catalog_dir=catalog_dir))
    argv = [
        str(java), *JVM_OPTIONS,
        "-cp", str(home / "lib" / "*"),
        f"-Dconfig={etc / 'config.properties'}",
        "-Dnode.environment=branchops_test",
        f"-Dnode.data-dir={workdir / 'data'}",
        f"-Dplugin.dir={home / 'plugin'}",
        "io.trino.server.TrinoServer",
    ]
    process = ServerProcess.start("trino", argv, log=workdir / "trino.log", cwd=home)
    uri = f"http://127.0.0.1:{port}"
    took = process.wait_until(lambda: _ready(uri), timeout=timeout, interval=1.0)
    return TrinoServer(uri=uri, home=home, process=process, startup_seconds=took)


if __name__ == "__main__":
    import sys
    import tempfile

    started = time.monotonic()
    server = start_trino(Path(tempfile.mkdtemp(prefix="trino-")))
    print(f"TRINO_URI={server.uri} (up in {server.startup_seconds:.1f}s, log {server.process.log})", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    _ = ServiceError
