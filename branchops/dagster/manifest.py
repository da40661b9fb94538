"""The ``manifest.json`` dagster-dbt builds its asset definitions from, made with ``dbt parse``
under the profile branchops writes (no database is opened, no profiles.yml needed)."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

from branchops.dbt.project import DbtProject
from branchops.dbt.scratch import write_spec
from branchops.errors import UsageError


def prepare_manifest(project_dir: str | Path, *, target_dir: str | Path | None = None,
                     schema: str = "analytics") -> Path:
    """Parse the dbt project and return the path of its ``manifest.json``.

    ``target_dir`` defaults to ``<project>/target`` (where dbt itself keeps it). ``schema`` is
    the target schema models are built in (branchops' ``target_schema``).

    Raises:
        UsageError: no ``dbt_project.yml``, or dbt could not parse the project (its message).
    """
    project = DbtProject.load(project_dir)
    target = Path(target_dir) if target_dir is not None else project.path / "target"
    with tempfile.TemporaryDirectory(prefix="branchops-parse-") as tmp:
        work = Path(tmp)
        spec = write_spec(work / "scratch.json", {})
        project.write_profile(work, scratch_spec=spec, schema=schema, threads=1)
        argv = ["parse", "--quiet", "--project-dir", str(project.path), "--profiles-dir", str(work),
                "--target-path", str(target), "--log-path", str(work / "logs"), "--log-level-file", "none",
                "--no-send-anonymous-usage-stats"]
        with warnings.catch_warnings():
            # dbt-core imports click's deprecated parser classes: third-party noise
            warnings.filterwarnings("ignore", r"'parser\.\w+' is deprecated", DeprecationWarning)
            from dbt.cli.main import dbtRunner

            res = dbtRunner().invoke(argv)
    if not res.success:
        raise UsageError(
            f"dbt could not parse {project.path}: {res.exception or 'see the messages above'}",
            unchanged="nothing was built or written",
            hint="fix the project so that `dbt parse` succeeds",
        )
    return target / "manifest.json"


def load_manifest(manifest: str | Path | dict[str, Any]) -> dict[str, Any]:
    if isinstance(manifest, dict):
        return manifest
    loaded: dict[str, Any] = json.loads(Path(manifest).read_text())
    return loaded
