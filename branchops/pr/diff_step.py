"""The diff step of a sync: every table that differs between the base (at the fork) and the PR
branch, diffed in the configured query engine (:mod:`branchops.diff.run`); keys come from the
``--key`` configuration, else from the dbt manifests stored with the refs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from branchops.dbt.artifacts import NOT_LOOKED_UP, Lookup, known_build
from branchops.pr.drift import source_drift
from branchops.pr.model import PrDiff

if TYPE_CHECKING:
    from branchops.dbt.artifacts import StoredBuild
    from branchops.lakehouse import Lakehouse

SAMPLE_ROWS = 5


class DataDiffer:
    def __init__(self, base_mode: str = "auto") -> None:
        self.base_mode = base_mode  # drift-free diffs (branchops.pr.drift_free): auto or stored

    def diff(self, lakehouse: Lakehouse, *, base: str, head: str, keys: dict[str, list[str]] | None = None,
             project_dir: Path | None = None, built: Sequence[str] = (),
             stored: StoredBuild | Lookup | None = NOT_LOOKED_UP) -> PrDiff:
        from branchops.diff import DiffOptions
        from branchops.diff.run import diff_in_configured_engine
        from branchops.pr.drift_free import diff_base

        stored = known_build(lakehouse.catalog, base, stored)  # once: the drift and the drift-free base share it
        drift = source_drift(lakehouse, base, stored)
        options = DiffOptions(keys={t: tuple(k) for t, k in (keys or {}).items()}, sample=SAMPLE_ROWS,
                              builds={base: stored})
        with diff_base(lakehouse, base=base, built=built, project_dir=project_dir, drift=drift,
                       base_mode=self.base_mode, stored=stored) as chosen:
            result = diff_in_configured_engine(lakehouse, chosen.ref, head, options)
        result = dataclasses.replace(result, base=dataclasses.replace(result.base, ref=base))
        return PrDiff(result, chosen.mode, chosen.reason, chosen.rebuilt, drift)
