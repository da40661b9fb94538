"""gc against resets, in-flight writes and racing writer processes: it never wedges, never
touches a live writer's branch or files, and a commit it collected cannot be reset or forked to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

from reliability_helpers import CliRun, catalog_digest, clean_refusal, open_lh, read_every_ref, table_rows

from branchops.catalog.base import INTERNAL_PREFIX
from branchops.gc.collect import collect_garbage


def wap_branches() -> list[str]:
    with open_lh() as lh:
        return [r.name for r in lh.catalog.list_refs(include_internal=True) if r.name.startswith(INTERNAL_PREFIX)]


def test_gc_after_a_shorter_retention_does_not_wedge_and_collected_commits_are_refused(
    project: Path, cli: CliRun
) -> None:
    with open_lh() as lh:
        before_c = lh.catalog.get_ref("main").hash
        lh.ingest("raw.temp", table_rows(4))
        with_c = lh.catalog.get_ref("main").hash
        lh.catalog.reset("main", before_c)  # raw.temp now lives only in history
        lh.catalog.drop_branch("feat")
    assert cli("gc", "--older-than", "0s").code == 0
    os.environ["BRANCHOPS_GC_RETENTION"] = "0s"
    try:
        res = cli("gc", "-o", "json")
    finally:
        del os.environ["BRANCHOPS_GC_RETENTION"]
    assert res.code == 0 and res.json()["deleted_files"] > 0, res.err
    again = cli("gc", "-o", "json")  # the default retention now names commits whose files are gone
    assert again.code == 0, again.err
    assert again.json()["skipped_collected_commits"] >= 1
    digest = catalog_digest(project)
    for args in (("branch", "reset", "main", "--to", with_c), ("branch", "create", "old", "--from", f"@{with_c}"),
                 ("branch", "create", "old", "--from", f"main@{with_c}")):
        refused = cli(*args)
        assert clean_refusal(refused, code=1) and "gc has deleted" in refused.err, refused
    assert catalog_digest(project) == digest
    ok = cli("branch", "create", "older", "--from", f"@{before_c}")  # its files are main's: fine
    assert ok.code == 0, ok.err
    with open_lh() as lh:
        assert read_every_ref(lh)[("older", "raw.orders")] == 20


def test_gc_never_touches_a_write_in_flight(project: Path) -> None:
    with open_lh() as lh:
        with lh.writing("main", "a slow write") as w:
            tbl = w.iceberg.create_table("raw.slow", schema=table_rows(1).schema)
            tbl.append(table_rows(7))
            os.environ["BRANCHOPS_GC_RETENTION"] = "0s"
            try:
                with open_lh() as other:
                    res = collect_garbage(other, older_than="0s")
            finally:
                del os.environ["BRANCHOPS_GC_RETENTION"]
            assert w.branch not in [b["name"] for b in res.dropped_branches]
            assert w.branch in wap_branches()
        assert lh.read("raw.slow").num_rows == 7  # published whole, after gc ran in the middle


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    import pyarrow as pa
    from branchops.config import load_settings
    from branchops.lakehouse import Lakehouse
    lh = Lakehouse(load_settings())
    with lh.writing("main", "killed") as w:
        t = w.iceberg.create_table("raw.killed", schema=pa.schema([("id", pa.int64())]))
        t.append(pa.table({"id": [1, 2]}))
        os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_killed_writers_branch_is_cleaned_by_the_next_write_and_by_gc(project: Path) -> None:
    for sweeper in ("write", "gc"):
        proc = subprocess.run([sys.executable, "-c", KILLED_WRITER], capture_output=True, text=True, timeout=120)
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert len(wap_branches()) == 1
        with open_lh() as lh:
            if sweeper == "write":
                lh.ingest("raw.customers", table_rows(1, start=50))
            else:
                assert collect_garbage(lh, older_than="7d").dropped_branches
            assert "raw.killed" not in lh.catalog.tables("main")
        assert wap_branches() == []


WRITER = textwrap.dedent("""
    import sys
    import pyarrow as pa
    from branchops.config import load_settings
    from branchops.lakehouse import Lakehouse
    w, commits = int(sys.argv[1]), int(sys.argv[2])
    with Lakehouse(load_settings()) as lh:
        for n in range(commits):
            lh.ingest(f"raw.w{w}", pa.table({"writer": [w] * 5, "n": [n] * 5}))
            print(n, flush=True)
""")
GC_LOOP = textwrap.dedent("""
    import os, sys
    from branchops.config import load_settings
    from branchops.gc.collect import collect_garbage
    from branchops.lakehouse import Lakehouse
    stop, runs = sys.argv[1], 0
    while not os.path.exists(stop) or runs == 0:
        with Lakehouse(load_settings()) as lh:
            collect_garbage(lh, older_than="0s")
        runs += 1
    print(runs)
""")


def test_gc_racing_writer_processes_loses_nothing(project: Path, tmp_path: Path, counts: Counter[str]) -> None:
    writers, commits = 3, 4
    env = {**os.environ, "BRANCHOPS_GC_RETENTION": "0s"}
    stop = tmp_path / "stop"
    gc = subprocess.Popen([sys.executable, "-c", GC_LOOP, str(stop)], env=env, stdout=subprocess.PIPE, text=True)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(w), str(commits)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(writers)]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        stop.touch()
        gc_out, _ = gc.communicate(timeout=300)
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert gc.returncode == 0
    with open_lh() as lh:
        for w in range(writers):
            got = lh.read(f"raw.w{w}").to_pydict()
            assert sorted(set(got["n"])) == list(range(commits)) and len(got["n"]) == 5 * commits
        read_every_ref(lh)
    assert wap_branches() == []
    counts["gc/writer races: writers x commits (nothing lost)"] += writers * commits
    counts["gc/writer races: gc runs during writes"] += int(gc_out.split()[-1])
