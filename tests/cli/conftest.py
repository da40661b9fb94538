from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from branchops.cli import main


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


CliRunner = Callable[..., Run]


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """Run ``branchops ARGS`` in-process, in ``tmp_path``; returns exit code and output."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("BRANCHOPS_"):
            monkeypatch.delenv(key)

    def run(*args: str) -> Run:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        cap = capsys.readouterr()
        return Run(int(exc.value.code or 0), cap.out, cap.err)

    yield run
