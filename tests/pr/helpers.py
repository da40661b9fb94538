"""Build and diff steps for lifecycle tests that do not need dbt: plugged in at the documented
seams (:class:`branchops.pr.steps.Builder` / ``Differ``), like a user's own build step would be.
The end-to-end tests (test_e2e_dbt.py) use the real dbt and diff steps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from branchops.catalog.base import ChangeKind
from branchops.dbt.artifacts import StoredBuild
from branchops.diff.model import DiffResult, Method, RefSide, RowCounts, TableDiff, TableStatus
from branchops.lakehouse import Lakehouse
from branchops.pr import BuildOutcome, TestSummary
from branchops.pr.model import PrDiff

#: the GitHub token of the tests; it must never show up in any output
TOKEN = "ghs_TESTtoken0123456789abcdefSECRET"

Tables = dict[str, pa.Table]


def rows(n: int, factor: int = 1, start: int = 1) -> pa.Table:
    return pa.table({"id": list(range(start, start + n)), "amount": [i * factor for i in range(start, start + n)]})


@dataclass
class TableBuilder:
    """Writes ``tables`` on the branch in one commit (write-audit-publish), like a dbt build would."""

    tables: Tables | Callable[[], Tables]
    ok: bool = True
    failed_tests: int = 0
    calls: list[str] = field(default_factory=list)

    def build(self, lakehouse: Lakehouse, *, branch: str, project_dir: Path, base: str,
              stored: StoredBuild | None = None) -> BuildOutcome:
        self.calls.append(branch)
        tables = self.tables() if callable(self.tables) else self.tables
        if not self.ok:
            return BuildOutcome(ok=False, errors=("model mart.orders failed: Binder Error",))
        if self.failed_tests:
            return BuildOutcome(ok=True, built=tuple(tables), tests=TestSummary(passed=3, failed=self.failed_tests,
                                failures=("unique_orders_id",)))
        with lakehouse.writing(branch, "build") as w:
            for name, data in tables.items():
                cat = w.iceberg
                if name in lakehouse.catalog.tables(w.branch):
                    cat.load_table(name).overwrite(data)
                else:
                    cat.create_table(name, schema=data.schema).append(data)
        return BuildOutcome(ok=True, built=tuple(tables), reused=("raw.customers",), tests=TestSummary(passed=4),
                            exposures=("Revenue dashboard",))


class PointerDiffer:
    """Catalog-level diff as a real :class:`DiffResult`: row counts and the rows added/removed as
    multisets (keyless: no rows are paired, so ``changed`` is None), no column-level comparison."""

    def diff(self, lakehouse: Lakehouse, *, base: str, head: str, keys: dict[str, list[str]] | None = None,
             project_dir: Path | None = None, built: Sequence[str] = (), stored: StoredBuild | None = None
             ) -> PrDiff:
        def rows_of(ref: str, table: str) -> Counter[tuple[Any, ...]]:
            data = lakehouse.catalog.load_table(ref, table).scan().to_arrow()
            return Counter(tuple(sorted(r.items())) for r in data.to_pylist())

        status = {ChangeKind.ADDED: TableStatus.ADDED, ChangeKind.REMOVED: TableStatus.REMOVED}
        tables = []
        for ch in lakehouse.catalog.diff(base, head):
            old = rows_of(base, ch.table) if ch.kind is not ChangeKind.ADDED else Counter()
            new = rows_of(head, ch.table) if ch.kind is not ChangeKind.REMOVED else Counter()
            key = (keys or {}).get(ch.table)
            tables.append(TableDiff(
                ch.table, status.get(ch.kind, TableStatus.MODIFIED), Method.FULL_SCAN,
                key=tuple(key) if key else None,
                rows=RowCounts(old.total(), new.total(), (new - old).total(), (old - new).total(), None),
            ))
        def hash_of(ref: str) -> str:  # "main@<hash>" names its commit
            name, _, at = ref.partition("@")
            return at or lakehouse.catalog.get_ref(name).hash

        return PrDiff(DiffResult(RefSide(base, hash_of(base)), RefSide(head, hash_of(head)), tuple(tables)))
