"""dbt on a branch: dbt-duckdb builds into a scratch database whose views read the branch's
Iceberg tables; what it built is published to the branch in one commit (see ``runner``).

The PR lifecycle calls :func:`build`; the CLI calls :func:`run_dbt` for every dbt command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from branchops.dbt.artifacts import (
    MANIFEST_PROPERTY,
    NOT_LOOKED_UP,
    RUN_RESULTS_PROPERTY,
    Lookup,
    StoredBuild,
    find_build,
)
from branchops.dbt.project import DbtProject
from branchops.dbt.results import DbtRunFailed, DbtRunResult, ExposureInfo, NodeResult
from branchops.dbt.runner import COMMANDS, run_dbt

if TYPE_CHECKING:
    from branchops.lakehouse import Lakehouse

__all__ = [
    "COMMANDS",
    "MANIFEST_PROPERTY",
    "RUN_RESULTS_PROPERTY",
    "DbtProject",
    "DbtRunFailed",
    "DbtRunResult",
    "ExposureInfo",
    "NodeResult",
    "StoredBuild",
    "build",
    "find_build",
    "run_dbt",
]


def build(
    lakehouse: Lakehouse,
    branch: str,
    project_dir: str | Path,
    select: Sequence[str] | None = None,
    base: str | None = None,
    *,
    args: Sequence[str] = (),
    dbt_output: Literal["stdout", "stderr"] = "stdout",
    refine: Callable[..., None] | None = None,
    stored: StoredBuild | Lookup | None = NOT_LOOKED_UP,
) -> DbtRunResult:
    """``dbt build`` on ``branch``, published in one commit; e.g. ``select=["state:modified+"]``
    rebuilds what changed against the build stored on ``base`` (default: main; ``stored``: that
    build if the caller looked it up already).

    Raises DbtRunFailed (nothing published), UsageError, RefNotFound, MergeConflict.
    """
    return run_dbt(lakehouse, "build", branch=branch, project_dir=project_dir, args=args, select=select,
                   base=base, dbt_output=dbt_output, refine=refine, stored=stored)
