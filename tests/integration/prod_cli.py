"""The ``branchops`` CLI as a user runs it on the production stack: a ``branchops.toml`` for
Nessie + Trino + S3, and each command a subprocess (so every run starts from the config and
nothing in the test process is shared with it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from branchops.config import Settings

BRANCHOPS = [sys.executable, "-m", "branchops"]
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
#: environment variables of the test process a CLI run must not see (ours come from the config)
_SCRUB = ("BRANCHOPS_", "GITHUB_")


def toml_value(value: Any) -> str:
    return json.dumps(value)  # a JSON string, number or bool is valid TOML


def write_config(settings: Settings, folder: Path, **overrides: Any) -> Path:
    """``folder/branchops.toml`` with the non-secret settings of ``settings`` (and ``overrides``)."""
    keys = ("backend", "nessie_uri", "warehouse", "engine", "trino_uri", "s3_endpoint", "s3_region",
            "threads", "gc_retention", "gc_ttl", "target_schema")
    values = {k: getattr(settings, k) for k in keys} | overrides
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "branchops.toml"
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in values.items() if v is not None))
    return path


@dataclass
class Cli:
    """Runs ``branchops -c <config> ...`` in a clean environment plus ``env``."""

    config: Path
    env: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
        return base | self.env | (extra or {})

    def argv(self, *args: str) -> list[str]:
        return [*BRANCHOPS, "-c", str(self.config), *args]

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600,
            ) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              env=self.environ(env), cwd=self.config.parent, check=False)
        name = " ".join(args[:2]) if args[0] in ("pr", "branch", "dbt") else args[0]
        self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started
        return proc

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.environ(env), cwd=self.config.parent)

    def json(self, *args: str, env: dict[str, str] | None = None, ok: bool = True) -> dict[str, Any]:
        proc = self.run(*args, "-o", "json", env=env)
        if ok:
            assert proc.returncode == 0, f"branchops {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        return as_json(proc)


def as_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.stdout.strip(), f"no JSON on stdout (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def assert_clean_failure(proc: subprocess.CompletedProcess[str], *, code: int | tuple[int, ...] = 1,
                         says: tuple[str, ...] = (), secrets: tuple[str, ...] = ()) -> str:
    """The command failed the branchops way: exit ``code`` (or one of them), an ``error:`` line and
    a ``next:`` hint, no traceback, no internal error, and none of ``secrets``. Returns what it printed."""
    text = proc.stdout + proc.stderr
    codes = code if isinstance(code, tuple) else (code,)
    assert proc.returncode in codes, f"exit {proc.returncode}, expected {code}:\n{text[-3000:]}"
    assert "error:" in proc.stderr and "internal error" not in text, text[-3000:]
    assert "next:" in proc.stderr, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    for phrase in says:
        assert phrase.lower() in text.lower(), f"{phrase!r} not in:\n{text[-3000:]}"
    for secret in secrets:
        assert secret not in text, "a secret was printed"
    return text
