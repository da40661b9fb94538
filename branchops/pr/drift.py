"""Drift: the raw tables (dbt sources) of the base that moved after the base's last dbt build.

A PR branch rebuilds its modified models on today's raw data, while the base's tables were
built on the raw data of its last build; rows then differ that the PR's code did not change.
:func:`source_drift` names the sources whose pointer moved between the base's last build and the
fork, so the report can say which diff mode ran and what the plain diff may include.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from branchops.dbt.artifacts import NOT_LOOKED_UP, Lookup, known_build

if TYPE_CHECKING:
    from branchops.dbt.artifacts import StoredBuild
    from branchops.lakehouse import Lakehouse

#: how the PR's diff was computed when nothing says otherwise (branchops.pr.drift_free)
PLAIN = "plain"  # == drift_free.STORED_BASE


@dataclass(frozen=True)
class Drift:
    build: str  # the commit of the base's last dbt build
    moved: tuple[str, ...]  # sources whose pointer moved since

    def to_dict(self) -> dict[str, Any]:
        return {"since_build": self.build, "moved_sources": list(self.moved)}


def source_drift(lakehouse: Lakehouse, base: str, stored: StoredBuild | Lookup | None = NOT_LOOKED_UP
                 ) -> Drift | None:
    """The sources of the base's last build that moved on ``base`` since (None: no stored build,
    or its manifest cannot be read; ``stored``: that build if the caller looked it up already)."""
    from pyiceberg.io import load_file_io

    catalog = lakehouse.catalog
    stored = known_build(catalog, base, stored)
    if stored is None:
        return None
    try:
        io = load_file_io(properties=catalog.io_properties, location=stored.manifest)
        with io.new_input(stored.manifest).open() as f:
            manifest = json.loads(f.read())
    except (OSError, ValueError):
        return None
    sources = {_relation(s) for s in (manifest.get("sources") or {}).values() if isinstance(s, dict)}
    then, now = catalog.tables(f"@{stored.commit}"), catalog.tables(base)
    moved = sorted(t for t in sources if t and then.get(t) != now.get(t))
    return Drift(stored.commit, tuple(moved))


def _relation(node: dict[str, Any]) -> str | None:
    schema, name = node.get("schema"), node.get("identifier") or node.get("name")
    return f"{schema}.{name}" if schema and name else None
