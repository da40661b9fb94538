"""The two steps a sync runs that other modules own: the dbt build and the data diff.

The state machine talks to them through these small protocols, so the seams are explicit: the
defaults call ``branchops.dbt`` and ``branchops.diff``; another engine's or a user's own build
step plugs in the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from branchops.pr.model import BuildOutcome, PrDiff

if TYPE_CHECKING:
    from branchops.dbt.artifacts import StoredBuild
    from branchops.lakehouse import Lakehouse


class Builder(Protocol):
    def build(self, lakehouse: Lakehouse, *, branch: str, project_dir: Path, base: str,
              stored: StoredBuild | None) -> BuildOutcome:
        """Build ``state:modified+`` (against the manifest of the base's latest build: ``stored``, as
        the sync looked it up once, None when the base has none) with tests on ``branch`` and publish
        the outputs there in one commit; nothing is published on failure."""
        ...


class Differ(Protocol):
    def diff(self, lakehouse: Lakehouse, *, base: str, head: str, keys: dict[str, list[str]] | None = None,
             project_dir: Path | None = None, built: Sequence[str] = (), stored: StoredBuild | None) -> PrDiff:
        """The diff of every table that differs between ``base`` and ``head`` (``to_dict()``: the diff's
        JSON; ``project_dir``/``built``: the PR's code and the tables it built, for a drift-free base;
        ``stored``: the base's latest dbt build as the sync looked it up once; ``keys``: table -> key
        columns given explicitly, else they come from the stored dbt manifests)."""
        ...


def default_builder() -> Builder:
    from branchops.pr.dbt_step import DbtBuilder

    return DbtBuilder()


def default_differ() -> Differ:
    from branchops.pr.diff_step import DataDiffer

    return DataDiffer()
