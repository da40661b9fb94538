"""A user's dbt project as branchops sees it, and the profile branchops writes for it.

The project needs no ``profiles.yml``: branchops writes one into a temporary folder per
invocation, named after the project's ``profile:``, with one target (``branchops``) pointing at
that invocation's scratch DuckDB database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; dbt-core depends on it

from branchops.errors import UsageError

#: The target name in the generated profile (``target.name`` in the project's Jinja).
TARGET_NAME = "branchops"
#: The ``database`` of every relation dbt builds: dbt-duckdb's in-memory database.
SCRATCH_DATABASE = "memory"
#: the environment variable naming the scratch spec of the running invocation (see the plugin)
SCRATCH_ENV = "BRANCHOPS_DBT_SCRATCH"


@dataclass(frozen=True)
class DbtProject:
    path: Path
    name: str
    profile: str
    spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, project_dir: str | Path) -> DbtProject:
        """Raises:
        UsageError: no readable ``dbt_project.yml`` in ``project_dir``.
        """
        path = Path(project_dir).resolve()
        spec = path / "dbt_project.yml"
        if not spec.is_file():
            raise UsageError(
                f"no dbt_project.yml in {path}",
                unchanged="nothing was built or written",
                hint="pass --project-dir pointing at the folder that holds your dbt_project.yml",
            )
        try:
            data = yaml.safe_load(spec.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise UsageError(f"{spec} is not valid YAML: {e}", hint="fix the file and retry") from None
        if not isinstance(data, dict) or not data.get("name"):
            raise UsageError(f"{spec} has no `name:`", hint="see https://docs.getdbt.com/reference/dbt_project.yml")
        name = str(data["name"])
        return cls(path=path, name=name, profile=str(data.get("profile") or name), spec=data)

    def write_profile(self, folder: Path, *, scratch_spec: Path, schema: str, threads: int) -> Path:
        """Write ``profiles.yml`` for a dbt-duckdb build in memory over the tables of
        ``scratch_spec`` (see ``branchops.dbt.scratch``); returns the folder."""
        output = {
            "type": "duckdb",
            "path": ":memory:",
            "schema": schema,
            "threads": threads,
            # loads the Iceberg extension and creates the branch's views when dbt connects
            # the spec's path comes from the environment (set by the runner): a profile that does
            # not change from run to run lets dbt reuse its partial-parse state
            "plugins": [{"module": "branchops.dbt.plugin", "config": {"scratch": f"env:{SCRATCH_ENV}"}}],
        }
        profile = {self.profile: {"target": TARGET_NAME, "outputs": {TARGET_NAME: output}}}
        folder.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: no quoting pitfalls with odd paths
        (folder / "profiles.yml").write_text(json.dumps(profile, indent=2))
        return folder
