"""dbt models as Dagster assets, built on a branch through branchops.

:func:`branchops_dbt_assets` wraps dagster-dbt's ``@dbt_assets``: the manifest gives every
model, seed and snapshot an asset with its lineage and every dbt test an asset check. To
materialize a selection, branchops runs ``dbt build`` on the resource's branch and publishes
everything that built in **one** commit; the step then reports one materialization per
published table (all carrying that commit's hash) and one check result per test that ran.
When any model or error-severity test fails, nothing is published: the step reports the
tests' outcomes and fails with branchops' message.
"""

# no `from __future__ import annotations`: Dagster reads the context annotation at runtime
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, dbt_assets
from dagster_dbt.asset_utils import get_subset_selection_for_context

from branchops.dagster.events import DbtKeys, check_results, failure, model_metadata, row_count
from branchops.dagster.manifest import load_manifest, prepare_manifest
from branchops.dagster.resource import BranchopsResource
from branchops.dbt.results import DbtRunFailed, publishable
from branchops.dbt.runner import run_dbt
from branchops.errors import BranchopsError


def branchops_dbt_assets(
    *,
    project_dir: str | Path,
    manifest: str | Path | dict[str, Any] | None = None,
    select: str = "fqn:*",
    exclude: str | None = None,
    name: str | None = None,
    dagster_dbt_translator: DagsterDbtTranslator | None = None,
    resource_key: str = "branchops",
    dbt_args: Sequence[str] = (),
) -> dg.AssetsDefinition:
    """The dbt project's models as assets materialized on a branch (see the module docstring).

    ``manifest`` defaults to a fresh ``dbt parse`` of ``project_dir``. The assets need a
    :class:`BranchopsResource` under ``resource_key``. ``dbt_args`` are extra ``dbt build``
    flags (``--vars``, ``--full-refresh``, ...).
    """
    project = Path(project_dir).resolve()
    parsed = load_manifest(manifest if manifest is not None else prepare_manifest(project))
    translator = dagster_dbt_translator or DagsterDbtTranslator()
    keys = DbtKeys(parsed, translator)
    extra = list(dbt_args)

    @dbt_assets(manifest=parsed, select=select, exclude=exclude, name=name,
                dagster_dbt_translator=translator, required_resource_keys={resource_key})
    def _dbt_on_branch(context: AssetExecutionContext) -> Iterator[Any]:
        resource: BranchopsResource = getattr(context.resources, resource_key)
        selection, indirect = get_subset_selection_for_context(
            context, parsed, select, exclude, None, translator, os.environ.get("DBT_INDIRECT_SELECTION"))
        args = [*extra, *selection, *(["--indirect-selection", indirect] if indirect else [])]
        yield from build_on_branch(context, resource, project, args, keys)

    return _dbt_on_branch


def build_on_branch(context: dg.AssetExecutionContext, resource: BranchopsResource, project: Path,
                    args: list[str], keys: DbtKeys) -> Iterator[Any]:
    """Run ``dbt build`` on the resource's branch and translate what branchops did into events."""
    wanted = set(context.selected_asset_check_keys)
    try:
        with resource.lakehouse() as lh:
            branch = resource.branch_for_run(lh)
            context.log.info(f"dbt build on branch {branch} (dbt args: {' '.join(args) or 'none'})")
            try:
                result = run_dbt(lh, "build", branch=branch, project_dir=project, args=args, dbt_output="stderr")
            except DbtRunFailed as e:
                yield from check_results(e.result, keys, wanted)
                raise failure(e, branch=branch) from e
            built = publishable(result.nodes)
            rows = {n.table: row_count(lh, branch, n.table) for n in built if n.table}
    except BranchopsError as e:
        raise failure(e) from e
    context.log.info(f"published {len(result.published)} tables to {branch} in commit {result.hash}")
    selected = set(context.selected_asset_keys)
    for node in built:
        key = keys.asset_key(node.unique_id)
        if key is not None and key in selected:
            yield dg.MaterializeResult(asset_key=key, metadata=model_metadata(result, node, rows.get(node.table or "")))
    yield from check_results(result, keys, wanted)
