"""``BranchopsResource``: the branchops lakehouse as a Dagster resource, and the branch a run
works on.

Which branch a run writes to, in order:

1. a Dagster+ **branch deployment** (``DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT=1``) works on its pull
   request's branch, ``pr-<DAGSTER_CLOUD_PULL_REQUEST_ID>`` (the same name ``branchops pr open``
   gives it);
2. anywhere else (``dagster dev`` on a laptop, a QA deployment) on ``branch`` from the resource's
   config: a developer branch. ``main`` only with ``allow_main=True``: production is written by
   the nightly write-audit-publish job, not by a developer's materialization.

A misconfigured resource raises a :class:`~branchops.errors.BranchopsError` (what happened, what
was left unchanged, what to do) before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from branchops.config import Settings, load_settings
from branchops.errors import ConfigError, RefNotFound
from branchops.lakehouse import Lakehouse
from branchops.pr.model import pr_branch_name

#: Dagster+ sets these in every deployment / in branch deployments (its "built-in environment variables")
IS_BRANCH_DEPLOYMENT = "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT"
PULL_REQUEST_ID = "DAGSTER_CLOUD_PULL_REQUEST_ID"
#: settings the resource may set directly (the rest come from branchops.toml / BRANCHOPS_* env)
SETTING_FIELDS = ("backend", "catalog_uri", "warehouse", "engine", "nessie_uri", "trino_uri", "target_schema")


def branch_deployment_pr(environ: Mapping[str, str] | None = None) -> int | None:
    """The pull request a Dagster+ branch deployment was made for; None outside one.

    Raises:
        ConfigError: a branch deployment whose pull request id is missing or not a number.
    """
    env = os.environ if environ is None else environ
    if env.get(IS_BRANCH_DEPLOYMENT, "").strip() != "1":
        return None
    raw = env.get(PULL_REQUEST_ID, "").strip()
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigError(
            f"this is a Dagster+ branch deployment ({IS_BRANCH_DEPLOYMENT}=1) but {PULL_REQUEST_ID} is "
            f"{raw or 'not set'}: no pull request to take the branch from",
            unchanged="nothing was read or written",
            hint="open a pull request for the branch deployment, or name the branch in BranchopsResource(branch=...)",
        )
    return int(raw)


class BranchopsResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The branchops lakehouse and the branch this deployment works on.

    Give the config as a path to ``branchops.toml`` (``config_path``), or as fields
    (``catalog_uri``, ``warehouse``, ...); with neither, ``$BRANCHOPS_CONFIG`` or a
    ``branchops.toml`` in the working folder or a parent is used. Secrets come from the
    environment only, as everywhere in branchops.
    """

    config_path: str | None = Field(default=None, description="path to branchops.toml")
    backend: str | None = Field(default=None, description="sql (embedded) or nessie")
    catalog_uri: str | None = Field(default=None, description="SQLAlchemy URL of the embedded catalog")
    warehouse: str | None = Field(default=None, description="folder or s3://bucket/prefix of the Iceberg files")
    engine: str | None = Field(default=None, description="duckdb or trino")
    nessie_uri: str | None = Field(default=None, description="Nessie REST API v2 root")
    trino_uri: str | None = Field(default=None, description="Trino coordinator")
    target_schema: str | None = Field(default=None, description="schema dbt builds models into")
    branch: str | None = Field(
        default=None, description="branch a run outside a branch deployment works on (a developer branch)")
    allow_main: bool = Field(default=False, description="let `branch` be the production branch")
    create_branch: bool = Field(
        default=False, description="fork the branch from main when it does not exist (else: an error)")

    def settings(self) -> Settings:
        """The branchops settings this resource describes.

        Raises:
            ConfigError: no config file where one is needed, an invalid value, or an embedded
                catalog that was never initialized.
        """
        fields = {k: getattr(self, k) for k in SETTING_FIELDS if getattr(self, k) is not None}
        given = self.config_path is not None or "catalog_uri" in fields or "nessie_uri" in fields
        if not given and not os.environ.get("BRANCHOPS_CONFIG") and _find_upwards() is None:
            raise ConfigError(
                "BranchopsResource names no catalog: no config_path, no catalog_uri / nessie_uri, "
                f"and no branchops.toml in {Path.cwd()} or its parents",
                unchanged="nothing was read or written",
                hint="set BranchopsResource(config_path='path/to/branchops.toml') (or catalog_uri and warehouse)",
            )
        settings = load_settings(self.config_path, required=not given, **fields)
        _require_catalog(settings)
        return settings

    def lakehouse(self) -> Lakehouse:
        """Open the lakehouse (close it, or use it as a context manager)."""
        return Lakehouse(self.settings())

    def resolve_branch(self, settings: Settings, environ: Mapping[str, str] | None = None) -> str:
        """The branch this deployment works on (see the module docstring); no catalog access.

        Raises:
            ConfigError: no branch named, or the production branch without ``allow_main``.
        """
        pr = branch_deployment_pr(environ)
        if pr is not None:
            return pr_branch_name(pr, settings.pr_branch_prefix)
        main = settings.main_branch
        if not self.branch:
            raise ConfigError(
                "BranchopsResource names no branch to work on, and this is not a branch deployment",
                unchanged="nothing was read or written",
                hint="set BranchopsResource(branch='dev-<you>') to a developer branch "
                     f"(`branchops branch create dev-<you>`); {main} only with allow_main=True",
            )
        if self.branch == main and not self.allow_main:
            raise ConfigError(
                f"BranchopsResource(branch={main!r}) would write straight into production",
                unchanged=f"{main} and every other branch are as they were",
                hint=f"use a developer branch (`branchops branch create dev-<you>`); production is written by "
                     f"the nightly job; set allow_main=True only if you mean to write {main} from here",
            )
        return self.branch

    def branch_for_run(self, lakehouse: Lakehouse, environ: Mapping[str, str] | None = None) -> str:
        """The branch, checked to exist (or forked from main with ``create_branch=True``).

        Raises:
            ConfigError, RefNotFound (unknown branch; nothing written).
        """
        branch = self.resolve_branch(lakehouse.settings, environ)
        try:
            lakehouse.require_branch(branch)
        except RefNotFound:
            if not self.create_branch:
                raise RefNotFound(
                    f"branch {branch!r} does not exist in the lakehouse",
                    unchanged="nothing was read or written",
                    hint=f"create it (`branchops branch create {branch}`, or `branchops pr open` for a PR), "
                         "or set BranchopsResource(create_branch=True) to fork it from main",
                ) from None
            lakehouse.catalog.create_branch(branch, from_ref=lakehouse.main)
        return branch


def _find_upwards() -> Path | None:
    from branchops.config import find_config

    return find_config()


def _require_catalog(settings: Settings) -> None:
    """An embedded SQLite catalog must exist already: opening a missing one would create an
    empty lakehouse, and a run would then fail later on a branch that is not there."""
    prefix = "sqlite:///"
    url = settings.catalog_url
    if settings.backend != "sql" or not url.startswith(prefix) or url == prefix + ":memory:":
        return
    path = Path(url[len(prefix):])
    if not path.is_file():
        raise ConfigError(
            f"no branchops catalog at {path}",
            unchanged="nothing was read or written (no catalog was created)",
            hint="run `branchops init` there, or point BranchopsResource at the right branchops.toml / catalog_uri",
        )


def describe(resource: BranchopsResource) -> dict[str, Any]:
    """The resource's non-secret config (for run metadata)."""
    return {k: v for k, v in resource.model_dump().items() if v is not None}
