"""The nightly write-audit-publish job: production is only ever written by one merge commit,
after every check passed.

    fork nightly-<run id> from main
      -> land raw data on it (the user's op: an Airbyte sync, an ingest, ...)
      -> dbt build with tests on it (branchops publishes what built in one commit, or nothing)
      -> audit: dbt's tests and models, and diff checks on a branchops diff against main
      -> publish: merge into main in one commit carrying the Dagster run id and URL

Any failure stops the run before ``publish``: main is untouched and the nightly branch is kept
for inspection (``branchops branch show nightly-<run id>``, ``branchops diff nightly-<run id>``);
the run's failure names the failing checks and summarizes the diff. A passed run drops the
branch after the merge.
"""

# no `from __future__ import annotations`: Dagster reads the ops' context annotations at runtime
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import OpExecutionContext
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

from branchops.dagster.checks import CheckOutcome, RowCountCheck, run_diff, summary
from branchops.dagster.code import GitDbtProject, dbt_code
from branchops.dagster.events import DbtKeys, check_evaluations, failure
from branchops.dagster.manifest import load_manifest
from branchops.dagster.resource import BranchopsResource
from branchops.dbt.artifacts import MANIFEST_PROPERTY, RUN_RESULTS_PROPERTY
from branchops.dbt.results import DbtRunFailed, DbtRunResult, publishable
from branchops.dbt.runner import run_dbt
from branchops.errors import BranchopsError, CheckFailed
from branchops.lakehouse import Lakehouse
from branchops.pr.model import OPERATION

NIGHTLY_OP = "nightly"
RUN_ID_PROPERTY = "branchops.dagster.run_id"
RUN_URL_PROPERTY = "branchops.dagster.run_url"
JOB_PROPERTY = "branchops.dagster.job"
BRANCH_PROPERTY = "branchops.nightly.branch"
SHA_PROPERTY = "branchops.nightly.dbt_sha"
#: where `dagster dev` serves its UI unless told otherwise
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
WEBSERVER_URL_ENV = "BRANCHOPS_DAGSTER_URL"

Landing = dg.OpDefinition | Callable[[Lakehouse, str], Any]


@dataclass
class NightlyBuild:
    """What flows from op to op: the branch, main's head at the fork, the dbt outcome."""

    branch: str
    main_hash: str
    dbt: DbtRunResult | None = None
    dbt_sha: str | None = None
    dbt_source: str | None = None
    checks: list[CheckOutcome] = field(default_factory=list)


class NightlyChecksFailed(CheckFailed):
    """A dbt model or test, or a diff check, failed: nothing was merged."""


def nightly_job(
    *,
    project: str | Path | GitDbtProject,
    landing: Landing,
    checks: Sequence[RowCountCheck] = (),
    name: str = "branchops_nightly",
    resource_key: str = "branchops",
    dbt_assets: dg.AssetsDefinition | None = None,
    dbt_args: Sequence[str] = (),
    diff_tables: Sequence[str] = (),
    webserver_url: str | None = None,
    branch_prefix: str = "nightly-",
) -> dg.JobDefinition:
    """The nightly job (see the module docstring).

    Args:
        project: the dbt project folder, or a :class:`GitDbtProject` checked out at run time at
            the sha of main's last merged PR.
        landing: an op taking the branch name (one input) and returning it, or a function
            ``(lakehouse, branch) -> None`` that writes raw data to ``branch``.
        checks: diff checks that must pass before the merge, e.g.
            ``RowCountCheck("raw.orders", max_change=0.5)``.
        dbt_assets: the project's :func:`branchops_dbt_assets`; when given, dbt tests are
            reported as its asset checks and the merged tables as its assets' materializations.
        diff_tables: glob patterns limiting the diff (default: every table that changed).
        webserver_url: the Dagster UI's root (default ``$BRANCHOPS_DAGSTER_URL``, else
            ``http://127.0.0.1:3000``), for the run URL recorded in the merge commit.
    """
    keys = _dbt_keys(dbt_assets)
    land = landing if isinstance(landing, dg.OpDefinition) else _landing_op(landing, resource_key)
    needs = {resource_key}

    @dg.op(name="fork_nightly_branch", required_resource_keys=needs)
    def fork(context: OpExecutionContext) -> str:
        with _lakehouse(context, resource_key) as lh:
            branch = f"{branch_prefix}{context.run_id}"
            _guard(lambda: lh.catalog.create_branch(branch, from_ref=lh.main))
            main_hash = lh.catalog.get_ref(lh.main).hash
        context.add_output_metadata({"branch": branch, "main_hash": main_hash})
        context.log.info(f"forked {branch} from {lh.main} at {main_hash}")
        return branch

    @dg.op(name="dbt_build_on_branch", required_resource_keys=needs)
    def dbt_build(context: OpExecutionContext, branch: str) -> NightlyBuild:
        with _lakehouse(context, resource_key) as lh:
            build = NightlyBuild(branch, _guard(lambda: lh.catalog.get_ref(lh.main).hash))
            with _guarded(branch, lh.main), dbt_code(project, lh) as code:
                build.dbt_sha, build.dbt_source = code.sha, code.source
                context.log.info(f"dbt build on {branch} from {code.source}: {code.project_dir}")
                try:
                    build.dbt = run_dbt(lh, "build", branch=branch, project_dir=code.project_dir,
                                        args=list(dbt_args), dbt_output="stderr")
                except DbtRunFailed as e:  # the audit reports it with the diff
                    build.dbt = e.result
        if keys is not None:
            for ev in check_evaluations(build.dbt, keys):
                context.log_event(ev)  # type: ignore[arg-type]  # accepted at runtime, not in the stub
        context.add_output_metadata({"published": len(build.dbt.published), "tests": build.dbt.tests(),
                                     "dbt_sha": build.dbt_sha or "", "success": build.dbt.success})
        return build

    @dg.op(name="audit_nightly_branch", required_resource_keys=needs)
    def audit(context: OpExecutionContext, build: NightlyBuild) -> NightlyBuild:
        assert build.dbt is not None
        with _lakehouse(context, resource_key) as lh, _guarded(build.branch, lh.main):
            diff = run_diff(lh, build.branch, diff_tables)
        outcomes = [*_dbt_outcomes(build.dbt), *(c.evaluate(diff) for c in checks)]
        lines = summary(diff)
        context.add_output_metadata({
            "checks": dg.MetadataValue.json([o.to_dict() for o in outcomes]),
            "diff": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines) or "no table changed"),
        })
        failed = [o for o in outcomes if not o.passed]
        if failed:
            report = "\n".join(f"- {o.name}: {o.message}" for o in failed)
            diff_text = "\n".join(f"- {line}" for line in lines) or "- no table changed"
            raise failure(NightlyChecksFailed(
                f"nightly checks failed on {build.branch} ({len(failed)} of {len(outcomes)}):\n{report}\n"
                f"Diff of {build.branch} against {lh.main}:\n{diff_text}",
                unchanged=f"{lh.main} was not changed; {build.branch} is kept for inspection",
                hint=f"`branchops diff {build.branch}` and `branchops sql --branch {build.branch} ...` show what "
                     f"landed; fix the data or the checks, then run the job again (drop the branch when done)",
            ), branch=build.branch, failed_checks=[o.name for o in failed])
        return replace(build, checks=outcomes)

    @dg.op(name="publish_to_main", required_resource_keys=needs)
    def publish(context: OpExecutionContext, build: NightlyBuild) -> str:
        assert build.dbt is not None
        url = f"{(webserver_url or os.environ.get(WEBSERVER_URL_ENV) or DEFAULT_WEBSERVER_URL).rstrip('/')}" \
              f"/runs/{context.run_id}"
        props = {OPERATION: NIGHTLY_OP, RUN_ID_PROPERTY: context.run_id, RUN_URL_PROPERTY: url,
                 JOB_PROPERTY: context.job_name, BRANCH_PROPERTY: build.branch}
        if build.dbt_sha:
            props[SHA_PROPERTY] = build.dbt_sha
        props.update({k: v for k, v in ((MANIFEST_PROPERTY, build.dbt.manifest),
                                        (RUN_RESULTS_PROPERTY, build.dbt.run_results)) if v})
        with _lakehouse(context, resource_key) as lh, _guarded(build.branch, lh.main):
            res = lh.catalog.merge(build.branch, lh.main, message=f"nightly {context.run_id}: merge {build.branch}",
                                   properties=props | {"branchops.previous_hash": lh.catalog.get_ref(lh.main).hash},
                                   squash=True, author=lh.settings.author_name)
            lh.drop_branch(build.branch)
        if res.hash is None:  # the night changed nothing: there is no commit to make
            context.log.info(f"{build.branch} holds no change: {lh.main} stays as it was")
            return ""
        context.log.info(f"merged {build.branch} into {lh.main} as {res.hash} ({len(res.merged_tables)} tables)")
        if keys is not None:
            for node in publishable(build.dbt.nodes):
                key = keys.asset_key(node.unique_id)
                if key is not None and node.table in res.merged_tables:
                    context.log_event(dg.AssetMaterialization(asset_key=key, metadata={
                        "branchops/branch": lh.main, "branchops/commit": res.hash, "branchops/table": str(node.table),
                        "branchops/nightly_branch": build.branch}))
        context.add_output_metadata({"commit": res.hash, "merged_tables": len(res.merged_tables), "run_url": url})
        return res.hash

    @dg.job(name=name, description="write-audit-publish into main: fork, land, dbt build, check, merge")
    def _nightly() -> None:
        publish(audit(dbt_build(land(fork()))))

    return _nightly


def _dbt_keys(assets: dg.AssetsDefinition | None) -> DbtKeys | None:
    if assets is None:
        return None
    manifest, translator, _project = get_manifest_and_translator_from_dbt_assets([assets])
    return DbtKeys(load_manifest(dict(manifest)), translator)


def _landing_op(fn: Callable[[Lakehouse, str], Any], resource_key: str) -> dg.OpDefinition:
    @dg.op(name="land_raw_data", required_resource_keys={resource_key})
    def land(context: OpExecutionContext, branch: str) -> str:
        with _lakehouse(context, resource_key) as lh, _guarded(branch, lh.main):
            fn(lh, branch)
        return branch

    return land


def _lakehouse(context: OpExecutionContext, resource_key: str) -> Lakehouse:
    resource: BranchopsResource = getattr(context.resources, resource_key)
    lakehouse: Lakehouse = _guard(resource.lakehouse)
    return lakehouse


def _guard(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except BranchopsError as e:
        raise failure(e) from e


class _guarded:
    """A branchops error inside the block fails the step, saying main was not changed and the
    nightly branch is kept."""

    def __init__(self, branch: str, main: str) -> None:
        self.branch, self.main = branch, main

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if isinstance(error, BranchopsError):
            raise failure(error, branch=self.branch,
                          kept=f"{self.main} was not changed; {self.branch} is kept for inspection") from error


def _dbt_outcomes(result: DbtRunResult) -> list[CheckOutcome]:
    if result.success:
        t = result.tests()
        return [CheckOutcome("dbt build", True, f"{len(result.published)} tables built, {t['pass']} tests passed")]
    failed = [CheckOutcome(f"dbt {n.resource_type} {n.name}", False,
                           f"{n.status}{': ' + n.message if n.message else ''}") for n in result.failures]
    return failed or [CheckOutcome("dbt build", False, result.error or "dbt reported a failure")]
