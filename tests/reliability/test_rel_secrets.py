"""Secrets stay out of the debug log and out of branchops.toml."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from branchops.project_init import init_project

KEY_ID, SECRET = "AKIAFUZZKEYID0000042", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET0042"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_debug_log_of_an_s3_warehouse_holds_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("BRANCHOPS_", "AWS_")):
            monkeypatch.delenv(key)
    init_project(tmp_path, warehouse="s3://bucket/wh", s3_endpoint=f"http://127.0.0.1:{closed_port()}",
                 s3_region="us-east-1")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
    proc = subprocess.run([sys.executable, "-m", "branchops", "--debug", "gc", "-o", "json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1 and '"error"' in proc.stdout, proc.stderr
    log = (tmp_path / "branchops-debug.log").read_text()
    assert log, "the debug log is empty"
    for secret in (KEY_ID, SECRET):
        assert secret not in log and secret not in proc.stdout + proc.stderr


@pytest.mark.parametrize("key", ["s3.secret-access-key", "s3.session-token", "adls.account-key"])
def test_a_config_file_with_a_secret_io_property_is_refused(key: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from branchops.config import load_settings
    from branchops.errors import ConfigError

    cfg = tmp_path / "branchops.toml"
    cfg.write_text(f'[branchops]\nio_properties = {{"{key}" = "{SECRET}", "s3.region" = "eu"}}\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert key in err.value.message and SECRET not in str(err.value)
