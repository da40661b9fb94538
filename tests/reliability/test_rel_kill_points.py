"""kill -9 at injected points of ingest, merge and gc: afterwards every ref reads fully, main is the
old state or the new one, and the next write or gc leaves no private branch behind.

A point is injected from outside the product: a wrapper patches one function so that the process
kills itself (SIGKILL, no clean-up runs) right before or after it, then runs the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from reliability_helpers import open_lh, read_every_ref, table_rows

from branchops.catalog.base import INTERNAL_PREFIX
from branchops.gc.collect import collect_garbage

WRAPPER = textwrap.dedent("""
    import importlib, os, signal, sys
    target, when, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
    module_name, _, attr = target.rpartition(":")
    owner = importlib.import_module(module_name)
    for part in attr.split(".")[:-1]:
        owner = getattr(owner, part)
    name = attr.split(".")[-1]
    original = getattr(owner, name)
    calls = [0]
    def wrapped(*args, **kwargs):
        calls[0] += 1
        if when == "before" and calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        out = original(*args, **kwargs)
        if when == "after" and calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    setattr(owner, name, wrapped)
    from branchops.cli import main
    main(sys.argv[4:])
""")

SQL = "branchops.catalog.sql.backend"
#: (name, patched function, before/after, which call, command)
POINTS = [
    ("ingest: fork created", f"{SQL}:SqlVersionedCatalog.create_branch", "after", 1, "ingest"),
    ("ingest: data files written", "pyiceberg.table:Table.append", "after", 1, "ingest"),
    ("ingest: write branch committed", f"{SQL}:SqlVersionedCatalog.commit", "after", 1, "ingest"),
    # set_rows keeps the JDBC mirror of a published ref (main) in step, inside the commit transaction;
    # the private write branch is not published, so the first call is the publishing merge
    ("ingest: inside the publishing transaction", f"{SQL}:set_rows", "after", 1, "ingest"),
    ("ingest: published, private branch not dropped", f"{SQL}:SqlVersionedCatalog.merge", "after", 1, "ingest"),
    ("merge: before", f"{SQL}:SqlVersionedCatalog.merge", "before", 1, "merge"),
    ("merge: inside the transaction", f"{SQL}:set_rows", "after", 1, "merge"),
    ("gc: after dropping branches", "branchops.gc.collect:ReferenceWalker.add_metadata", "before", 1, "gc"),
    ("gc: after the first delete", "branchops.gc.store:LocalStore.delete", "after", 1, "gc"),
]
COMMANDS = {
    "ingest": ["ingest", "raw.orders", "{csv}"],
    "merge": ["branch", "merge", "feat"],
    "gc": ["gc", "--older-than", "0s"],
}


@pytest.mark.parametrize("point", POINTS, ids=[p[0] for p in POINTS])
def test_kill_9_at_point(point: tuple[str, str, str, int, str], project: Path, tmp_path: Path,
                         counts: Counter[str]) -> None:
    name, target, when, nth, command = point
    csv = tmp_path / "more.csv"
    csv.write_text("id,amount\n" + "".join(f"{i},{i}\n" for i in range(500, 510)))
    with open_lh() as lh:
        old_main = lh.read("raw.orders").num_rows
        feat = lh.read("raw.orders", "feat").num_rows
        if command == "gc":  # garbage: a dropped branch's table, and an idle PR branch
            lh.catalog.create_branch("pr-9")
            lh.ingest("raw.gone", table_rows(2), branch="pr-9")
            lh.catalog.drop_branch("pr-9")
            lh.catalog.create_branch("pr-10")
    args = [a.format(csv=csv) for a in COMMANDS[command]]
    proc = subprocess.run([sys.executable, "-c", WRAPPER, target, when, str(nth), *args],
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "BRANCHOPS_GC_RETENTION": "0s"})
    assert proc.returncode == -signal.SIGKILL, f"{name}: the kill point was not reached: {proc.stderr[-2000:]}"
    with open_lh() as lh:
        now_main = lh.read("raw.orders").num_rows
        expected_new = {"ingest": old_main + 10, "merge": feat, "gc": old_main}[command]
        assert now_main in (old_main, expected_new), f"{name}: main is between states"
        read_every_ref(lh)  # every ref, private ones too, reads fully
    # Recovery: the next write and gc finish cleanly and leave no private branch behind.
    with open_lh() as lh:
        lh.ingest("raw.customers", table_rows(1, start=77))
        collect_garbage(lh, older_than="0s")
        read_every_ref(lh)
        assert not [r.name for r in lh.catalog.list_refs(include_internal=True) if r.name.startswith(INTERNAL_PREFIX)]
        assert collect_garbage(lh, dry_run=True).dropped_branches == []
    counts["kill -9 points survived"] += 1
