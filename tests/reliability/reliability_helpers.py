"""Helpers of the reliability suite (uniquely named: test folders share one import path)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from branchops.cli import main
from branchops.config import load_settings
from branchops.lakehouse import Lakehouse
from branchops.project_init import init_project

BRANCHOPS = [sys.executable, "-m", "branchops"]


def table_rows(n: int, start: int = 1) -> pa.Table:
    return pa.table({"id": list(range(start, start + n)), "amount": [i * 3 for i in range(start, start + n)]})


def seed_project(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("BRANCHOPS_"):
            monkeypatch.delenv(key)
    init_project(root)
    monkeypatch.setenv("BRANCHOPS_CONFIG", str(root / "branchops.toml"))
    with open_lh() as lh:
        lh.ingest("raw.orders", table_rows(20))
        lh.ingest("raw.customers", table_rows(5))
        lh.catalog.create_branch("feat")
        lh.ingest("raw.orders", table_rows(3, start=100), branch="feat")
    return root


def open_lh() -> Lakehouse:
    return Lakehouse(load_settings())


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class CliRun:
    """``branchops ARGS`` in-process (fast enough for hundreds of fuzzed inputs)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        cap = self.capsys.readouterr()
        return Result(code, cap.out, cap.err)


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BRANCHOPS, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def catalog_digest(root: Path) -> str:
    """The catalog database's bytes (its WAL too) and the warehouse's file list with sizes."""
    h = hashlib.sha256()
    for p in sorted((root / ".branchops").glob("catalog.db*")):
        h.update(p.name.encode() + p.read_bytes())
    for p in sorted((root / ".branchops" / "warehouse").rglob("*")):
        if p.is_file():
            h.update(f"{p}:{p.stat().st_size}".encode())
    return h.hexdigest()


def warehouse_digest(root: Path) -> dict[str, str]:
    """Every warehouse file's content hash: a write to any data file changes it."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / ".branchops" / "warehouse").rglob("*")) if p.is_file()}


def read_every_ref(lh: Lakehouse) -> dict[tuple[str, str], int]:
    """Every table of every ref (internal ones too) read in full: ``(ref, table) -> rows``."""
    out = {}
    for ref in lh.catalog.list_refs(include_internal=True):
        for table in lh.catalog.tables(ref.name):
            out[(ref.name, table)] = lh.read(table, ref.name).num_rows
    return out


def clean_refusal(res: Result, code: int = 2) -> bool:
    """Refused as users should see it: the exit code, a message, no traceback, no internal error."""
    text = res.out + res.err
    return (res.code == code and "Traceback" not in text and "internal error" not in text
            and "error:" in res.err)
