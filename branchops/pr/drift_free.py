"""Drift-free diffs: diff the PR's tables against the base's code rebuilt on the same raw data.

When raw tables (dbt sources) of the base moved after the base's last dbt build (see
:mod:`branchops.pr.drift`), the PR's rebuilt models read newer raw rows than the base's tables
did, and a plain diff mixes the drift with the code's effect. :func:`diff_base` then rebuilds the
models the PR built, with the **base's code**, on a scratch branch forked from the same base
commit as the PR (zero-copy, so the same raw snapshot and the same upstream tables), and the diff
compares the PR against that scratch branch: what is left is only the code's effect.

The base's code is taken from the manifest stored with the base's last build: each rebuilt
model's ``raw_code`` is written back to its ``original_file_path`` in a copy of the PR's project.
That works for any checkout of a real dbt project (no git history or credentials are needed in
CI, and the manifest is exactly what the base's tables were built from). What it does not undo:
a PR's change to macros, ``dbt_project.yml`` or YAML configs; those stay as in the PR. Models new
in the PR have no base version and are left out (their diff shows them added).

The scratch branch is named like a write-audit-publish fork (:func:`branchops.wap.new_branch_name`),
so ``gc`` leaves it alone while this process runs (and for the lease after a crash elsewhere),
and it is dropped when the diff is done.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from branchops.dbt.artifacts import NOT_LOOKED_UP, Lookup, known_build, load_manifest
from branchops.errors import RefNotFound

if TYPE_CHECKING:
    from branchops.dbt.artifacts import StoredBuild
    from branchops.lakehouse import Lakehouse
    from branchops.pr.drift import Drift

#: the diff compared the PR with the base's tables as they are
STORED_BASE = "plain"  # the value `diff.mode` has had since drift detection: parsers read it
#: the diff compared the PR with the base's code rebuilt on the PR's raw snapshot
DRIFT_FREE = "drift_free"
#: ``--base-mode``: ``auto`` rebuilds the base when raw data drifted; ``stored`` never does
BASE_MODES = ("auto", "stored")


@dataclass(frozen=True)
class BaseChoice:
    """What the diff compares against, and why."""

    ref: str
    mode: str
    reason: str
    rebuilt: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "mode_reason": self.reason, "rebuilt_base": list(self.rebuilt)}


@contextlib.contextmanager
def diff_base(
    lakehouse: Lakehouse, *, base: str, built: Sequence[str], project_dir: Path | None, drift: Drift | None,
    base_mode: str = "auto", force: bool = False, stored: StoredBuild | Lookup | None = NOT_LOOKED_UP,
) -> Iterator[BaseChoice]:
    """The ref to diff the PR against: ``base`` itself, or a scratch branch where the models the PR
    built (``built``: tables) were rebuilt from the base's code; dropped when the block ends.

    ``force`` rebuilds even without drift (``branchops diff --rebuild-base``). A failed rebuild
    falls back to the stored base and says why (the PR's own build decides pass or fail).
    ``stored``: the base's dbt build if the caller looked it up already.
    """
    def as_is(why: str) -> BaseChoice:
        return BaseChoice(base, STORED_BASE, why)

    if base_mode == "stored":
        yield as_is("--base-mode stored: the base's tables as they are")
        return
    if not force and (drift is None or not drift.moved):
        yield as_is("no raw table moved since the base's last dbt build")
        return
    if project_dir is None or not built:
        yield as_is("nothing to rebuild: no dbt project or no model built")
        return
    moved = f"raw tables moved since the base's last dbt build: {', '.join(drift.moved)}" if drift else "asked"
    try:
        build = known_build(lakehouse.catalog, base, stored)
        project, names = _base_project(lakehouse, base, built, project_dir, build)
    except (OSError, ValueError, KeyError) as e:
        yield as_is(f"{moved}; the base's code could not be read ({e})")
        return
    if not names:
        shutil.rmtree(project, ignore_errors=True)
        yield as_is(f"{moved}; every model the PR built is new (no base version)")
        return
    scratch, failed = _rebuild(lakehouse, base, project, names, build)
    try:
        if scratch is None:
            yield as_is(f"{moved}; {failed}")
            return
        yield BaseChoice(scratch, DRIFT_FREE, f"{moved}: the base's code was rebuilt on the PR's raw snapshot",
                         tuple(sorted(names.values())))
    finally:
        shutil.rmtree(project, ignore_errors=True)
        if scratch is not None:
            with contextlib.suppress(RefNotFound):
                lakehouse.drop_branch(scratch)


def _base_project(lakehouse: Lakehouse, base: str, built: Sequence[str], project_dir: Path,
                  stored: StoredBuild | None) -> tuple[Path, dict[str, str]]:
    """A copy of ``project_dir`` whose models that built ``built`` hold the base's SQL; returns it
    and ``model name -> table`` of the models to rebuild."""
    from branchops.dbt.results import model_tables

    if stored is None:
        raise ValueError(f"no dbt build stored on {base}")
    manifest = load_manifest(lakehouse.catalog, base, stored)
    if manifest is None:
        raise ValueError(f"the manifest of {base}'s build ({stored.manifest}) is gone or unreadable")
    tables = model_tables(manifest)
    copy = Path(tempfile.mkdtemp(prefix="branchops-base-project-"))
    shutil.copytree(project_dir, copy, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".venv"))
    names: dict[str, str] = {}
    wanted = set(built)
    for uid, table in tables.items():
        node = manifest["nodes"][uid]
        if table not in wanted or node.get("resource_type") != "model" or node.get("language", "sql") != "sql":
            continue
        (copy / node["original_file_path"]).write_text(str(node["raw_code"]))
        names[str(node["name"])] = table
    return copy, names


def _rebuild(lakehouse: Lakehouse, base: str, project: Path, names: dict[str, str], stored: StoredBuild | None
             ) -> tuple[str, None] | tuple[None, str]:
    """The scratch branch (forked from ``base``) with ``names`` rebuilt from ``project``, or why not."""
    from branchops.dbt import build
    from branchops.wap import new_branch_name

    scratch = new_branch_name()
    lakehouse.catalog.create_branch(scratch, from_ref=base)
    try:
        # no tests: the base's tests are not what the PR is judged by
        build(lakehouse, scratch, project, select=sorted(names), base=base.split("@", 1)[0] or None,
              dbt_output="stderr", args=["--exclude", "resource_type:test", "resource_type:unit_test"],
              stored=stored)
    except Exception as e:  # DbtRunFailed and the like: the PR's own build decides pass or fail
        with contextlib.suppress(RefNotFound):
            lakehouse.drop_branch(scratch)
        return None, f"rebuilding the base's code failed ({type(e).__name__}: {e})"
    return scratch, None


@contextlib.contextmanager
def rebuilt_base(lakehouse: Lakehouse, base: str, head: str, project_dir: Path) -> Iterator[BaseChoice]:
    """``branchops diff --rebuild-base``: the models whose tables differ between ``base`` and
    ``head`` rebuilt from the base's code on ``base``'s raw data (``project_dir``: the head's code)."""
    from branchops.pr.drift import source_drift

    differing = sorted(ch.table for ch in lakehouse.catalog.diff(base, head))
    stored = known_build(lakehouse.catalog, base, NOT_LOOKED_UP)
    with diff_base(lakehouse, base=base, built=differing, project_dir=project_dir,
                   drift=source_drift(lakehouse, base, stored), force=True, stored=stored) as chosen:
        yield chosen
