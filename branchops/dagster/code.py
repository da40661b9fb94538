"""Where the nightly job's dbt code comes from: a folder, or the git repository at the sha that
main's last merged pull request recorded (``branchops pr merge`` writes ``branchops.pr.sha`` into
its merge commit). So merging a dbt PR deploys its code to the nightly run without a new image.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from branchops.errors import ConfigError, UsageError
from branchops.lakehouse import Lakehouse
from branchops.pr.model import MERGE_OP, OPERATION, PR_PROPERTY
from branchops.secrets import redact

_USERINFO = re.compile(r"://[^/\s@]+@")
#: how far back in main's log the last PR merge is looked for
MERGE_SCAN = 500


@dataclass(frozen=True)
class DbtCode:
    """The dbt project a run builds: its folder and, when checked out from git, the sha."""

    project_dir: Path
    sha: str | None = None
    source: str = "folder"


def last_merged_sha(lakehouse: Lakehouse) -> tuple[str, str] | None:
    """``(sha, commit hash)`` of main's newest PR merge commit, or None if no PR was merged."""
    for commit in lakehouse.catalog.log(lakehouse.main, limit=MERGE_SCAN):
        props = commit.properties
        if props.get(OPERATION) == MERGE_OP and props.get(f"{PR_PROPERTY}.sha"):
            return props[f"{PR_PROPERTY}.sha"], commit.hash
    return None


@dataclass(frozen=True)
class GitDbtProject:
    """The dbt project in ``repo`` (a URL or path git can clone; credentials belong in git's own
    config, never in the URL) under ``subdir``, at the sha of main's last PR merge.

    With no PR merge recorded on main yet, ``default_rev`` (e.g. ``"main"``) is checked out; without
    one that is an error.
    """

    repo: str
    subdir: str = "."
    default_rev: str | None = None

    @contextlib.contextmanager
    def checkout(self, lakehouse: Lakehouse) -> Iterator[DbtCode]:
        """A temporary checkout, removed when the block ends.

        Raises:
            ConfigError: no PR merge on main and no ``default_rev``; the repository, sha or
                ``subdir`` cannot be had (nothing was written).
        """
        found = last_merged_sha(lakehouse)
        if found is None and self.default_rev is None:
            raise ConfigError(
                f"no merged pull request is recorded on {lakehouse.main}: no sha to check the dbt code out at",
                unchanged="nothing was read or written",
                hint="merge a PR with `branchops pr merge`, or set GitDbtProject(default_rev='main')",
            )
        rev = found[0] if found else str(self.default_rev)
        with tempfile.TemporaryDirectory(prefix="branchops-dbt-code-") as tmp:
            work = Path(tmp) / "repo"
            self._git("clone", "--quiet", "--no-checkout", self.repo, str(work))
            self._git("-C", str(work), "checkout", "--quiet", "--detach", rev, what=f"revision {rev}")
            sha = self._git("-C", str(work), "rev-parse", "HEAD").strip()
            project = (work / self.subdir).resolve()
            if not (project / "dbt_project.yml").is_file():
                raise ConfigError(
                    f"no dbt_project.yml under {self.subdir!r} in {safe(self.repo)} at {sha[:12]}",
                    unchanged="nothing was read or written", hint="fix GitDbtProject(subdir=...)",
                )
            yield DbtCode(project, sha, source=safe(f"{self.repo}@{sha}"))

    def _git(self, *args: str, what: str | None = None) -> str:
        try:
            done = subprocess.run(["git", *args], capture_output=True, text=True, check=False, timeout=600)
        except FileNotFoundError:
            raise ConfigError("git is not installed: the dbt code cannot be checked out",
                              hint="install git where the Dagster run executes") from None
        if done.returncode != 0:
            raise ConfigError(
                safe(f"git could not get {what or 'the repository'} of {self.repo}: {done.stderr.strip()[-500:]}"),
                unchanged="nothing was read or written",
                hint="check the repository URL, that the sha was pushed, and git's credentials",
            )
        return done.stdout


def safe(text: str) -> str:
    """``text`` without credentials (a token in a clone URL's user part included)."""
    return _USERINFO.sub("://***@", redact(text))


@contextlib.contextmanager
def dbt_code(project: str | Path | GitDbtProject, lakehouse: Lakehouse) -> Iterator[DbtCode]:
    if isinstance(project, GitDbtProject):
        with project.checkout(lakehouse) as code:
            yield code
        return
    path = Path(project).resolve()
    if not (path / "dbt_project.yml").is_file():
        raise UsageError(f"no dbt_project.yml in {path}", unchanged="nothing was read or written",
                         hint="point the nightly job at the folder that holds dbt_project.yml")
    yield DbtCode(path)
