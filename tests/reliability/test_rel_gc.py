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

import pytest
from reliability_helpers import CliRun, catalog_digest, clean_refusal, open_lh, read_every_ref, table_rows

from branchops.catalog.base import INTERNAL_PREFIX
from branchops.errors import CheckFailed
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
    with open_lh() as lh:  # the Python API refuses them too (the check lives in the catalog)
        for call in (lambda: lh.catalog.reset("main", with_c), lambda: lh.catalog.create_branch("old", f"@{with_c}"),
                     lambda: lh.catalog.create_branch("old", f"main@{with_c}")):
            with pytest.raises(CheckFailed, match="gc has deleted"):
                call()
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


PR_SYNC = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import pyarrow as pa
    from branchops.config import load_settings
    from branchops.lakehouse import Lakehouse
    from branchops.pr import PullRequests, Reporter
    from branchops.pr.model import BuildOutcome
    stop = sys.argv[1]

    class SlowBuild:  # the dbt step of a real sync, stood in for by a write and a wait
        def build(self, lakehouse, *, branch, project_dir, base, stored=None):
            lakehouse.ingest("raw.built", pa.table({"id": [1, 2, 3]}), branch=branch)
            print("building", flush=True)
            while not os.path.exists(stop):
                time.sleep(0.05)
            return BuildOutcome(ok=True, built=("raw.built",))

    with Lakehouse(load_settings()) as lh:
        out = PullRequests(lh, Reporter(None, echo=lambda _t: None), builder=SlowBuild()).sync(
            7, "6dcb09b5b57875f334f61aebed695e2e4193db5e", Path("."))
    print(out.status.value, flush=True)
""")


def test_gc_never_drops_a_pr_branch_whose_sync_is_in_flight(project: Path, tmp_path: Path,
                                                            counts: Counter[str]) -> None:
    """A ``pr sync`` in another process holds a lease on pr-7 while it builds: ``gc --older-than 0s``
    (retention 0s) leaves pr-7 and its files alone; once the sync has ended, the same gc drops it."""
    stop = tmp_path / "stop"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_", "GITLAB"))}
    sync = subprocess.Popen([sys.executable, "-c", PR_SYNC, str(stop)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert sync.stdout is not None and sync.stdout.readline().strip() == "building", sync.communicate()[1]
        leases = [n for n in wap_branches() if ".pr-7" in n]
        assert len(leases) == 1, wap_branches()
        os.environ["BRANCHOPS_GC_RETENTION"] = "0s"
        try:
            with open_lh() as lh:
                res = collect_garbage(lh, older_than="0s")
                assert "pr-7" not in [b["name"] for b in res.dropped_branches]
                assert lh.read("raw.built", "pr-7").num_rows == 3  # its data files are all there
        finally:
            del os.environ["BRANCHOPS_GC_RETENTION"]
    finally:
        stop.touch()
        out, err = sync.communicate(timeout=300)
    assert sync.returncode == 0 and out.strip() == "passed", err[-2000:]
    with open_lh() as lh:
        head = lh.catalog.log("pr-7", limit=1)[0]
        assert head.properties.get("branchops.pr") == "7" or "validate PR #7" in head.message
        assert lh.read("raw.built", "pr-7").num_rows == 3
        assert wap_branches() == []  # the lease went with the command
        assert "pr-7" in [b["name"] for b in collect_garbage(lh, older_than="0s").dropped_branches]  # idle now
    counts["gc/writer races: gc runs during a pr sync (pr branch kept)"] += 1
