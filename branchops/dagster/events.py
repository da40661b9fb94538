"""What branchops did, as Dagster events: one published dbt build becomes a materialization per
model (all pointing at the same branchops commit) and an asset check result per dbt test; a
branchops error becomes a ``dagster.Failure`` whose description carries its hint.

The events are read from the invocation's ``run_results`` (``DbtRunResult.nodes``) after
branchops has published, so a materialization is only ever reported for a table that is on
the branch; when dbt failed nothing was published and only the tests' outcomes are reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator
from dagster_dbt.asset_utils import get_asset_check_key_for_test

from branchops.dbt.results import DbtRunResult, NodeResult
from branchops.errors import BranchopsError

TEST_TYPES = frozenset({"test"})


def failure(error: BranchopsError, **metadata: Any) -> dg.Failure:
    """A Dagster step failure that shows the branchops error whole: what happened, what was left
    unchanged, what to do next (``str(error)``), with the same fields as metadata."""
    meta: dict[str, Any] = {k: v for k, v in error.to_dict().items() if isinstance(v, (str, int, float, bool))}
    meta.update(metadata)
    return dg.Failure(description=str(error), metadata=meta, allow_retries=False)


@dataclass(frozen=True)
class DbtKeys:
    """Maps dbt nodes of a manifest to the asset keys and check keys dagster-dbt gives them."""

    manifest: Mapping[str, Any]
    translator: DagsterDbtTranslator

    def asset_key(self, unique_id: str) -> dg.AssetKey | None:
        if unique_id not in self.manifest.get("nodes", {}):
            return None
        return self.translator.get_asset_spec(self.manifest, unique_id, None).key

    def check_key(self, unique_id: str) -> dg.AssetCheckKey | None:
        if unique_id not in self.manifest.get("nodes", {}):
            return None
        return get_asset_check_key_for_test(self.manifest, self.translator, unique_id, None)


def model_metadata(result: DbtRunResult, node: NodeResult, rows: int | None) -> dict[str, Any]:
    assert node.table is not None
    meta: dict[str, Any] = {
        "branchops/branch": result.branch,
        "branchops/commit": result.hash or "",
        "branchops/table": node.table,
        "branchops/metadata_location": result.published.get(node.table, ""),
        "dbt/unique_id": node.unique_id,
        "dbt/status": node.status,
        "dbt/execution_time": round(node.execution_time, 3),
    }
    if rows is not None:
        meta["dagster/row_count"] = rows
    return meta


def check_evaluations(result: DbtRunResult, keys: DbtKeys,
                      wanted: Iterable[dg.AssetCheckKey] | None = None) -> Iterator[dg.AssetCheckEvaluation]:
    """One evaluation per dbt test that ran (skipped ones did not), for the checks in ``wanted``."""
    allowed = None if wanted is None else set(wanted)
    for node in result.nodes:
        if node.resource_type not in TEST_TYPES or node.status == "skipped":
            continue
        key = keys.check_key(node.unique_id)
        if key is None or (allowed is not None and key not in allowed):
            continue
        yield dg.AssetCheckEvaluation(
            asset_key=key.asset_key, check_name=key.name, passed=node.status == "pass",
            severity=dg.AssetCheckSeverity.WARN if node.status == "warn" else dg.AssetCheckSeverity.ERROR,
            description=node.message,
            metadata={"branchops/branch": result.branch, "dbt/unique_id": node.unique_id, "dbt/status": node.status,
                      "dbt/failures": node.failures if node.failures is not None else 0},
        )


def check_results(result: DbtRunResult, keys: DbtKeys,
                  wanted: Iterable[dg.AssetCheckKey] | None = None) -> Iterator[dg.AssetCheckResult]:
    """The same as :func:`check_evaluations`, as results an asset's own step yields."""
    for ev in check_evaluations(result, keys, wanted):
        yield dg.AssetCheckResult(asset_key=ev.asset_key, check_name=ev.check_name, passed=ev.passed,
                                  severity=ev.severity, description=ev.description, metadata=ev.metadata)


def row_count(lakehouse: Any, ref: str, table: str) -> int | None:
    """Rows of a table from its snapshot summary (no scan); None when the summary has none."""
    snapshot = lakehouse.catalog.load_table(ref, table).current_snapshot()
    records = snapshot.summary.get("total-records") if snapshot is not None and snapshot.summary else None
    return int(records) if records is not None else None
