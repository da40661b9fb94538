"""The build step of a sync: ``dbt build --select state:modified+`` on the PR branch (branchops.dbt)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from branchops.dbt.artifacts import NOT_LOOKED_UP, Lookup, known_build
from branchops.pr.model import BuildOutcome, TestSummary

if TYPE_CHECKING:
    from branchops.dbt import DbtRunResult
    from branchops.dbt.artifacts import StoredBuild
    from branchops.lakehouse import Lakehouse

TEST_TYPES = ("test", "unit_test")
#: engines whose compiled SQL classification reads, with the sqlglot dialect of the same name
DIALECTS = frozenset({"duckdb", "trino"})


class DbtBuilder:
    """Builds what the PR modified and everything downstream, with tests, published in one commit.

    When the base holds no dbt build yet (no manifest to compare against), everything is built.
    """

    def __init__(self, dbt_output: str = "stderr", *, classify: bool = True) -> None:
        self.dbt_output = dbt_output
        self.classify = classify

    def build(self, lakehouse: Lakehouse, *, branch: str, project_dir: Path, base: str,
              stored: StoredBuild | Lookup | None = NOT_LOOKED_UP) -> BuildOutcome:
        from branchops.dbt import DbtRunFailed, build
        from branchops.lineage.select import LineageSelection

        started = time.perf_counter()
        stored = known_build(lakehouse.catalog, base, stored)  # once: the selection and dbt's state share it
        select = ["state:modified+"] if stored is not None else None
        # classification narrows state:modified+ in the engine's SQL dialect (branchops.lineage.select)
        engine = lakehouse.settings.engine
        lineage = LineageSelection(dialect=engine) if self.classify and select and engine in DIALECTS else None
        try:
            result = build(lakehouse, branch, project_dir, select=select, base=base,
                           dbt_output="stderr" if self.dbt_output == "stderr" else "stdout", refine=lineage,
                           stored=stored)
        except DbtRunFailed as e:
            result = e.result
        outcome = outcome_of(result, time.perf_counter() - started)
        return replace(outcome, lineage=lineage.to_dict()) if lineage is not None else outcome


def outcome_of(result: DbtRunResult, seconds: float) -> BuildOutcome:
    counts = result.tests()
    tests = [n for n in result.nodes if n.resource_type in TEST_TYPES]
    errors = [f"{n.name}: {n.message or n.status}" for n in result.failures if n.resource_type not in TEST_TYPES]
    if not result.success and not result.failures and result.error:
        errors.append(result.error)
    return BuildOutcome(
        ok=result.success,
        built=tuple(result.built),
        reused=tuple(result.reused),
        tests=TestSummary(
            passed=counts.get("pass", 0), failed=counts.get("fail", 0) + counts.get("error", 0),
            warned=counts.get("warn", 0), skipped=counts.get("skipped", 0),
            failures=tuple(f"{n.name} ({n.status})" for n in tests if n.failed),
        ),
        errors=tuple(errors),
        exposures=tuple(
            (e.label or e.name) + (f" <{e.url}>" if e.url else "") for e in result.exposures if e.affected
        ),
        seconds=seconds,
        published_hash=result.hash,
        notes=tuple(result.notes),
        timings=dict(result.timings),
        parse=result.parse,
    )
