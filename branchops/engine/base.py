"""Query engines over the tables of a ref: what every engine offers, as capability constants.

An engine makes the tables of any ref (``main``, ``feat``, ``main@<hash>``) queryable under a
fully qualified SQL name: ``relation(ref, "raw.orders")``. Dialect differences stay in sqlglot
(``DIALECT``); behaviour differences are class constants, never ``if engine == ...`` branches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pyarrow as pa

    from branchops.catalog.base import VersionedCatalog


class Engine(ABC):
    #: sqlglot dialect name used to render queries for this engine
    DIALECT: ClassVar[str]
    #: can read an Iceberg table at an arbitrary metadata location (historical commit)
    READS_ANY_METADATA: ClassVar[bool] = False
    #: can read a chosen subset of a table's data files (diff file pruning)
    READS_DATA_FILES: ClassVar[bool] = False
    #: can read a chosen subset of a table's data files through the table (a predicate on the
    #: file path, e.g. Trino's ``"$path"``): diff file pruning without reading files directly
    READS_TABLE_FILES: ClassVar[bool] = False
    #: the most files :meth:`scan_table_files` takes in one query (the paths are query text)
    MAX_TABLE_FILES: ClassVar[int] = 2000
    #: diffs a keyed table with unique keys in one query (counts, profiles) and one more for the
    #: samples, with no stored intermediate results; other keys take the stored-results path
    ONE_QUERY_KEYED_DIFF: ClassVar[bool] = False
    #: runs the diff's engine-tuned keyed paths (a key join; profiles folded into the row fetch
    #: through lists and UNNEST); others take the portable group-by path with the same results
    FAST_KEYED_DIFF: ClassVar[bool] = False
    #: keeps something per ref on the engine side (Trino: a catalog) to clean up on drop
    HOLDS_REF_RESOURCES: ClassVar[bool] = False
    #: dbt builds through this engine straight into a ref (its write fork); otherwise dbt builds
    #: in an embedded scratch database and branchops publishes the results
    BUILDS_DBT_IN_ENGINE: ClassVar[bool] = False

    def __init__(self, catalog: VersionedCatalog) -> None:
        self.catalog = catalog

    @abstractmethod
    def relation(self, ref: str, table: str) -> str:
        """The SQL name of ``table`` as it is on ``ref`` (made queryable on first use).

        Raises:
            RefNotFound, TableNotFound.
        """

    @abstractmethod
    def query_arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Run a query and return its result as Arrow."""

    def scan_files(self, paths: Sequence[str]) -> str:
        """SQL (a table function) reading exactly these data files; engines with ``READS_DATA_FILES``."""
        raise NotImplementedError(f"{type(self).__name__} cannot read chosen data files")

    def scan_table_files(self, ref: str, table: str, paths: Sequence[str]) -> str:
        """SQL (a subquery) reading only these data files of ``table`` on ``ref``; ``READS_TABLE_FILES``."""
        raise NotImplementedError(f"{type(self).__name__} cannot read chosen data files of a table")

    def materialize(self, name: str, sql: str) -> str:
        """Store a (small) query result for this session as ``name``; returns its SQL name."""
        raise NotImplementedError(f"{type(self).__name__} cannot store query results")

    def drop_materialized(self, name: str) -> None:
        """Forget what :meth:`materialize` stored."""
        raise NotImplementedError(f"{type(self).__name__} cannot store query results")

    @abstractmethod
    def query_ref(self, ref: str, sql: str) -> pa.Table:
        """Run ``sql`` with ``ref``'s tables as the default catalog (``select * from raw.orders``)."""

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        tbl = self.query_arrow(sql, params)
        cols = [c.to_pylist() for c in tbl.columns]
        return list(zip(*cols, strict=True)) if cols else []

    def forget_ref(self, ref: str) -> None:  # noqa: B027 - optional hook
        """Release what the engine keeps for ``ref`` (called when the branch is dropped)."""

    def memory_limit_bytes(self) -> int | None:
        """The memory the engine's queries may use before they spill; None when unknown."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
