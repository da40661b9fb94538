"""Per-branch prefixes for new files, so a store policy can confine a PR job to its own prefix.

Every write is published to one ref (write-audit-publish: a ``branchops-wap-*`` fork is merged
into its target), and the files it creates go under that target's folder:

- a protected ref (``main``): the warehouse itself, as always
  (``<warehouse>/<namespace>/<table>-<id>/...``);
- any other ref: ``<warehouse>/branches/<ref>/<namespace>/<table>/{data,metadata}/...`` — new
  tables, new data files, manifests and metadata files of existing tables, dbt artifacts.

So a PR job's credentials need to read everything but put objects only under
``<warehouse>/branches/pr-*`` and delete nothing; the README has the policy. The paths are
given to pyiceberg in memory (``write.data.path`` / ``write.metadata.path`` on the loaded table),
never stored in a table's properties: after a merge, main's next write goes to the table's own
location again.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from pyiceberg.table import TableProperties

if TYPE_CHECKING:
    from pyiceberg.table.metadata import TableMetadata

BRANCHES_FOLDER = "branches"


def branch_root(warehouse: str, ref: str, protected: Collection[str]) -> str | None:
    """The folder new files published to ``ref`` go under; None: the warehouse's usual layout."""
    if ref in protected:
        return None
    return f"{warehouse.rstrip('/')}/{BRANCHES_FOLDER}/{ref}"


def table_folder(root: str, table: str) -> str:
    """``<root>/<namespace>/<table>`` for ``namespace.table``."""
    namespace, _, name = table.rpartition(".")
    return f"{root}/{namespace}/{name}"


def with_branch_paths(metadata: TableMetadata, root: str | None, table: str) -> TableMetadata:
    """``metadata`` whose writes (data, manifests, metadata files) go under ``root``."""
    if root is None:
        return metadata
    folder = table_folder(root, table)
    props = {**metadata.properties, TableProperties.WRITE_DATA_PATH: f"{folder}/data",
             TableProperties.WRITE_METADATA_PATH: f"{folder}/metadata"}
    return metadata.model_copy(update={"properties": props})

