"""Dagster drives branchops (``pip install 'branchops[dagster]'``).

- :class:`BranchopsResource`: the lakehouse and the branch a deployment works on (a Dagster+
  branch deployment works on its PR's ``pr-N``; a local run on a developer branch);
- :func:`branchops_dbt_assets`: dbt models as assets, built on that branch and published in
  one commit, dbt tests as asset checks;
- :func:`nightly_job`: write-audit-publish into main: fork ``nightly-<run id>``, land raw data,
  dbt build with tests, diff checks, merge in one commit only when every check passed.

``import branchops`` never imports Dagster; this package does.
"""

from branchops.dagster.assets import branchops_dbt_assets
from branchops.dagster.checks import CheckOutcome, RowCountCheck
from branchops.dagster.code import DbtCode, GitDbtProject, last_merged_sha
from branchops.dagster.manifest import prepare_manifest
from branchops.dagster.nightly import NightlyBuild, NightlyChecksFailed, nightly_job
from branchops.dagster.resource import BranchopsResource, branch_deployment_pr

__all__ = [
    "BranchopsResource",
    "CheckOutcome",
    "DbtCode",
    "GitDbtProject",
    "NightlyBuild",
    "NightlyChecksFailed",
    "RowCountCheck",
    "branch_deployment_pr",
    "branchops_dbt_assets",
    "last_merged_sha",
    "nightly_job",
    "prepare_manifest",
]
