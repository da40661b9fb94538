"""The diff step of a sync: every table that differs between the base (at the fork) and the PR
branch, diffed in the configured query engine (:mod:`branchops.diff.run`); keys come from the
``--key`` configuration, else from the dbt manifests stored with the refs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from branchops.pr.drift import PLAIN, source_drift

if TYPE_CHECKING:
    from branchops.lakehouse import Lakehouse

SAMPLE_ROWS = 5


class DataDiffer:
    def diff(self, lakehouse: Lakehouse, *, base: str, head: str, keys: dict[str, list[str]]) -> dict[str, Any]:
        from branchops.diff import DiffOptions
        from branchops.diff.run import diff_in_configured_engine

        options = DiffOptions(keys={t: tuple(k) for t, k in keys.items()}, sample=SAMPLE_ROWS)
        result = diff_in_configured_engine(lakehouse, base, head, options)
        out = result.to_dict() | {"mode": PLAIN}
        drift = source_drift(lakehouse, base)
        if drift is not None:
            out["drift"] = drift.to_dict()
        return out
