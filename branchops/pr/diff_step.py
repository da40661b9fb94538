"""The diff step of a sync: every table that differs between the base (at the fork) and the PR
branch, diffed by the diff engine (branchops.diff); keys come from the stored dbt manifests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from branchops.lakehouse import Lakehouse

SAMPLE_ROWS = 5


class DataDiffer:
    def diff(self, lakehouse: Lakehouse, *, base: str, head: str, keys: dict[str, list[str]]) -> dict[str, Any]:
        from branchops.diff import DiffOptions, diff_refs

        options = DiffOptions(keys={t: tuple(k) for t, k in keys.items()}, sample=SAMPLE_ROWS)
        return diff_refs(lakehouse, base, head, options=options).to_dict()
