"""``branchops serve`` as a process: prints its address, serves, needs the token it was given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow as pa

from branchops.config import Settings, write_default_config
from branchops.lakehouse import Lakehouse


def test_serve_prints_its_uri_and_serves_with_a_token(tmp_path: Path) -> None:
    write_default_config(tmp_path)
    with Lakehouse(Settings(root=tmp_path)) as lh:
        lh.ingest("raw.orders", pa.table({"id": [1, 2]}), branch="main")
    env = {**os.environ, "MY_REST_TOKEN": "tok-123456"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "branchops", "serve", "--port", "0", "--token-env", "MY_REST_TOKEN"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("BRANCHOPS_REST_URI=http://127.0.0.1:"), line
        uri = line.split("=", 1)[1]
        assert httpx.get(f"{uri}/v1/namespaces").status_code == 401
        got = httpx.get(f"{uri}/v1/namespaces/raw/tables", headers={"Authorization": "Bearer tok-123456"})
        assert got.json()["identifiers"] == [{"namespace": ["raw"], "name": "orders"}]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "tok-123456" not in err
