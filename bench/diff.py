"""Benchmark: branchops diff vs reladiff and data-diff (key-based, same data as native DuckDB tables).

    /work/venv/bin/python bench/diff.py [--rows 10000000] [--files 200] [--peers-python /work/peers-venv/bin/python]
        [--repeat 3] [--repeat-other 1] [--peer-timeout 900] [--work DIR] [--out FILE]

Scenarios (1% of rows changed): ``full`` (changes spread over every data file: a rewrite),
``confined`` (changes confined to 1% of the data files), ``identical`` (a fresh branch).
Every tool runs in its own subprocess; peak RSS is that process's VmHWM; the time is the diff call
alone (measured inside the process) and the whole process. Like ``engine_limit``, which imports
DuckDB and pyiceberg before its clock starts, ours imports the libraries a diff loads on first use
(``LAZY_IMPORTS``) before its clock: ``seconds`` is the diff alone, ``cold_seconds`` adds that
import time (what ``seconds`` measured before; ``vs_engine_limit*_cold_*`` use it). The machine
is shared and noisy, so each scenario runs in rounds (``--repeat`` for ``full``, ``--repeat-other`` for the others; ours
always ``--repeat``), the tools taking turns within a round in a rotating order, and the JSON keeps
every run plus min and median per tool; the speedups compare min with min and median with median.
A peer that exceeds ``--peer-timeout`` is killed and reported as such.

``engine_limit`` is the single cheapest DuckDB query that finds the changed keys on the same Parquet
files branchops reads (a full outer join on the key comparing a hash of each row, counting the
result), in its own process with the diff's memory limit and spill folder; the JSON gives the
keyed diff's time as a multiple of it (issue 17: at most 2x), with column profiles (the default)
and without (``branchops_no_profiles``: the profiles' approximate distinct counts cost about as
much as the join itself). ``branchops_cli`` and ``reladiff_cli`` are whole CLI processes on the same
rows (``branchops diff`` on the lakehouse, ``reladiff`` on the DuckDB tables): start-up, imports,
diff and output, timed from outside (issue 10). ``--skip-peers`` leaves reladiff
and data-diff out. ``--baseline-root DIR`` adds ``baseline`` and ``baseline_no_profiles``: the same
in-process diff with branchops imported from DIR (a checkout of another commit, e.g. main), in
the same rounds, for an A/B pair measured under the same load, and (with the CLI runs)
``baseline_cli``: the baseline checkout's own ``.venv/bin/branchops diff`` as a whole
process (``cli_speedup_vs_baseline_*``). ``--cli`` keeps the whole ``branchops diff`` processes
with ``--skip-peers`` (reladiff left out). The load average is recorded
before and after: the machine is shared. ``--work DIR`` keeps the generated data in DIR (and
reuses it when DIR already holds it). Writes bench/results/diff.json.

Every run also records ``cpu_seconds``: user + system CPU of the timed part, every thread (in-process
runs) or of the whole child process (``*_cli``). Another job on the same cores stretches wall times
by whatever share of the cores it takes, far less the CPU a run spends, so the ``*_cpu_*`` ratios
(``vs_engine_limit_min_cpu``, ``cli_speedup_vs_reladiff_min_cpu``, ...) are the steadier comparison
on a shared machine; the wall-clock ratios stay the ones the targets name.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OURS = ("branchops", "branchops_no_profiles", "engine_limit", "baseline", "baseline_no_profiles")
COLUMNS = ["id", "a", "b", "c", "d", "x", "y", "z", "s", "t"]
#: modules a diff imports lazily on its first call (``child_ours`` imports them before timing)
LAZY_IMPORTS = ("duckdb", "pyarrow.parquet", "pyiceberg.table", "pyiceberg.catalog", "sqlglot")

GEN_SQL = """
SELECT i AS id, (i * 7) % 1000 AS a, (i * 13) % 100000 AS b, i % 17 AS c, (i * 31) % 5000 AS d,
       (i % 1000) / 7.0 AS x, (i % 777) * 1.5 AS y, sqrt(i) AS z,
       'cust_' || (i % 50000) AS s, CASE WHEN i % 11 = 0 THEN NULL ELSE 'st' || (i % 5) END AS t
FROM range({n}) r(i)
"""


# -- child processes ----------------------------------------------------------------------------
def cpu_now(who: int = 0) -> float:
    """User + system CPU seconds of this process (``who`` 0; every thread) or of its reaped children (-1)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF if who == 0 else resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def plan_connection(memory_limit: str) -> Any:
    """A DuckDB connection with the diff's settings (threads, memory limit, a spill folder): where
    the A/B scripts (``diff_*_ab.py``) run their plans side by side."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count() or 1}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{tempfile.mkdtemp(prefix='bench-spill-')}'")
    return con


def rotating_rounds(names: list[str], rounds: int, run: Any) -> dict[str, list[dict[str, float]]]:
    """``run(name)`` for every name in each of ``rounds`` rounds, the names taking turns in a rotating
    order; per name its runs' wall and CPU seconds and the load average after each."""
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for i in range(rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            t0, c0 = time.perf_counter(), cpu_now()
            run(name)
            runs[name].append({"seconds": round(time.perf_counter() - t0, 3), "cpu_seconds": round(cpu_now() - c0, 3),
                               "load1": round(os.getloadavg()[0], 2)})
            print(name, runs[name][-1], flush=True)
    return runs


def summarized(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, Any]]:
    """Per name (:func:`rotating_rounds`): its runs, and the min and median of their wall and CPU seconds."""
    stats = (("min", min), ("median", statistics.median))
    return {name: {"runs": rs, **{f"{stat}_{key}": round(fn([r[key] for r in rs]), 3)
                                  for key in ("seconds", "cpu_seconds") for stat, fn in stats}}
            for name, rs in runs.items()}


def child_ours(root: str, base: str, head: str, table: str, profiles: str = "1") -> dict[str, Any]:
    from branchops.config import Settings
    from branchops.diff import diff_refs
    from branchops.lakehouse import Lakehouse

    lh = Lakehouse(Settings(root=Path(root)))
    # the libraries a diff imports on first use (engine_limit imports them before its clock too);
    # their import time is kept apart: ``cold_seconds`` is the diff with it
    t0 = time.perf_counter()
    for module in LAZY_IMPORTS:
        importlib.import_module(module)
    imports = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), cpu_now()
    res = diff_refs(lh, base, head, keys={table: ("id",)}, sample=5, profiles=profiles == "1")
    secs, cpu = time.perf_counter() - t0, cpu_now() - c0
    t = res.tables[0] if res.tables else None
    return {"seconds": secs, "cpu_seconds": round(cpu, 3), "import_seconds": round(imports, 4),
            "cold_seconds": round(secs + imports, 4),
            "method": t.method.value if t else "no_table_moved",
            "rows": t.rows.to_dict() if t and t.rows else None, "tables": len(res.tables)}


def child_engine_limit(root: str, base: str, head: str, table: str) -> dict[str, Any]:
    import duckdb

    from branchops.config import Settings
    from branchops.diff.compute import DIFF_MEMORY_LIMIT
    from branchops.lakehouse import Lakehouse

    lh = Lakehouse(Settings(root=Path(root)))
    files = {ref: [t.file.file_path for t in lh.catalog.load_table(ref, table).scan().plan_files()]
             for ref in (base, head)}
    lh.close()
    spill = tempfile.mkdtemp(prefix="bench-spill-")
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count() or 1}")
    con.execute(f"SET memory_limit = '{DIFF_MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = '{spill}'")
    cols = ", ".join(COLUMNS[1:])

    def side(ref: str) -> str:
        paths = ", ".join(f"'{f}'" for f in files[ref])
        return f"SELECT id, hash({cols}) AS h FROM read_parquet([{paths}])"

    sql = (f"WITH b AS ({side(base)}), h AS ({side(head)}) "
           "SELECT count(*) FROM b FULL OUTER JOIN h ON b.id = h.id WHERE b.h IS DISTINCT FROM h.h")
    t0, c0 = time.perf_counter(), cpu_now()
    (changed,) = con.execute(sql).fetchone() or (0,)
    secs, cpu = time.perf_counter() - t0, cpu_now() - c0
    return {"seconds": secs, "cpu_seconds": round(cpu, 3), "changed_keys": int(changed),
            "files": {k: len(v) for k, v in files.items()}}


def child_peer(tool: str, db: str, base: str, head: str) -> dict[str, Any]:
    mod = __import__("reladiff" if tool == "reladiff" else "data_diff")
    t0, c0 = time.perf_counter(), cpu_now()
    t1 = mod.connect_to_table(f"duckdb://{db}", base, "id")
    t2 = mod.connect_to_table(f"duckdb://{db}", head, "id")
    diff = mod.diff_tables(t1, t2, extra_columns=tuple(COLUMNS[1:]))
    plus = minus = 0
    for sign, _row in diff:
        plus += sign == "+"
        minus += sign == "-"
    secs, cpu = time.perf_counter() - t0, cpu_now() - c0
    return {"seconds": secs, "cpu_seconds": round(cpu, 3), "plus": plus, "minus": minus}


def run_cli(argv: list[str], cwd: Path, timeout: float | None = None) -> dict[str, Any]:
    """A whole CLI process (start-up, imports, diff, output): wall time and peak RSS (wait4)."""
    t0, c0 = time.perf_counter(), cpu_now(-1)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"timeout": True, "timeout_seconds": timeout}
    wall, cpu = time.perf_counter() - t0, cpu_now(-1) - c0  # the child is reaped: its CPU is counted
    if proc.returncode not in (0, 1):  # 1: a difference was found (reladiff and --fail-on-change)
        return {"error": err.decode()[-2000:], "returncode": proc.returncode}
    return {"seconds": round(wall, 3), "process_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
            "stdout_tail": out.decode()[-300:]}


def cli_argv(tool: str, work: Path, data: dict[str, Any], ref: str, head_table: str,
             peers_python: str, baseline_root: str | None = None) -> list[str]:
    """The command line of a whole-process run: ``branchops diff`` (``baseline_cli``:
    the baseline checkout's, from its ``.venv``) or ``reladiff`` (same rows)."""
    if tool in ("branchops_cli", "baseline_cli"):
        exe = (Path(str(baseline_root)) / ".venv" / "bin" / "branchops" if tool == "baseline_cli"
               else Path(sys.executable).with_name("branchops"))
        return [str(exe), "diff", ref, "--key", "bench.t=id", "--sample", "5", "--output", "json"]
    url = f"duckdb://{data['db']}"
    cols = [a for c in COLUMNS[1:] for a in ("-c", c)]
    return [str(Path(peers_python).with_name("reladiff")), url, "base", url, head_table, "-k", "id", *cols, "--stats"]


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return -1.0


def run_child(python: str, args: list[str], timeout: float | None = None, root: Path = ROOT) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, __file__, "--child", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    _, status, usage = os.wait4(proc.pid, 0) if proc.returncode is None else (0, 0, None)
    wall = time.perf_counter() - t0
    if timed_out:
        return {"timeout": True, "timeout_seconds": timeout, "process_seconds": round(wall, 3)}
    code = os.waitstatus_to_exitcode(status) if usage is not None else proc.returncode
    if code != 0:
        return {"error": err.decode()[-2000:], "process_seconds": wall}
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    # the child's own VmHWM (reset by exec) is its peak RSS
    result.update(process_seconds=round(wall, 3))
    result["seconds"] = round(result["seconds"], 4)
    return result


# -- data -------------------------------------------------------------------------------------------
def build(work: Path, rows: int, files: int) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa
    from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

    from branchops.config import Settings
    from branchops.lakehouse import Lakehouse

    lh = Lakehouse(Settings(root=work))
    con = duckdb.connect()
    base = con.execute(GEN_SQL.format(n=rows)).to_arrow_table()
    target = max(1, base.nbytes // files)
    with lh.writing("main", "bench data") as w:
        tbl = w.iceberg.create_table("bench.t", schema=base.schema,
                                     properties={"write.target-file-size-bytes": str(target)})
        tbl.append(base)
    n_files = len(lh.catalog.load_table("main", "bench.t").inspect.files())
    step = 100  # 1% of rows
    # full: every 100th row's `b` and `z` change: every file is rewritten
    full = con.execute(
        f"SELECT * REPLACE (CASE WHEN id % {step} = 0 THEN b + 1 ELSE b END AS b, "
        f"CASE WHEN id % {step} = 0 THEN z * 2 ELSE z END AS z) FROM base"
    ).to_arrow_table()
    lh.catalog.create_branch("full", "main")
    with lh.writing("full", "rewrite") as w:
        w.iceberg.load_table("bench.t").overwrite(full.cast(base.schema))
    # confined: the first 1% of ids (whole data files at the start of the table) change
    bounds = sorted(int(r["readable_metrics"]["id"]["upper_bound"])
                    for r in lh.catalog.load_table("main", "bench.t").inspect.files().to_pylist())
    k = max(1, n_files // 100)
    hi = bounds[k - 1] + 1
    lh.catalog.create_branch("confined", "main")
    changed = con.execute(f"SELECT * REPLACE (b + 1 AS b, z * 2 AS z) FROM base WHERE id < {hi}").to_arrow_table()
    with lh.writing("confined", "change one percent of the files") as w:
        t = w.iceberg.load_table("bench.t")
        t.delete(And(GreaterThanOrEqual("id", 0), LessThan("id", hi)))
        w.iceberg.load_table("bench.t").append(changed.cast(base.schema))
    lh.catalog.create_branch("same", "main")
    # the peers get the same data as native DuckDB tables
    db = str(work / "peers.duckdb")
    pcon = duckdb.connect(db)
    pcon.register("base_arrow", base)
    pcon.register("full_arrow", full)
    pcon.execute("CREATE TABLE base AS SELECT * FROM base_arrow")
    pcon.execute("CREATE TABLE head_full AS SELECT * FROM full_arrow")
    pcon.execute(f"CREATE TABLE head_confined AS SELECT * REPLACE (CASE WHEN id < {hi} THEN b + 1 ELSE b END AS b, "
                 f"CASE WHEN id < {hi} THEN z * 2 ELSE z END AS z) FROM base_arrow")
    pcon.execute("CREATE TABLE head_same AS SELECT * FROM base_arrow")
    pcon.close()
    lh.close()
    del pa
    return {"data_files": n_files, "confined_rows_changed": hi, "db": db,
            "full_rows_changed": (rows + step - 1) // step}


@contextlib.contextmanager
def workdir(path: str | None) -> Iterator[Path]:
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        yield Path(tmp)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    secs = [r["seconds"] for r in runs if "seconds" in r]
    out: dict[str, Any] = {"runs": runs}
    if secs:
        out.update(min_seconds=min(secs), median_seconds=round(statistics.median(secs), 4),
                   peak_rss_mb=max(r.get("peak_rss_mb", 0) for r in runs if "seconds" in r))
    cpu = [r["cpu_seconds"] for r in runs if "cpu_seconds" in r]
    if cpu:
        out.update(min_cpu_seconds=min(cpu), median_cpu_seconds=round(statistics.median(cpu), 4))
    cold = [r["cold_seconds"] for r in runs if "cold_seconds" in r]
    if cold:
        out.update(min_cold_seconds=min(cold), median_cold_seconds=round(statistics.median(cold), 4))
    if len(secs) < len(runs):
        out["failed_runs"] = len(runs) - len(secs)
    return out


def scenario(name: str, work: Path, data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    ref = {"identical": "same"}.get(name, name)
    head = {"identical": "head_same"}.get(name, f"head_{name}")
    tools = ["branchops", "branchops_no_profiles", "engine_limit"]
    tools += ["baseline", "baseline_no_profiles"] if args.baseline_root else []
    tools += [] if args.skip_peers else [*args.peers, "reladiff_cli"]
    tools += ["branchops_cli"] if args.cli or not args.skip_peers else []
    tools += ["baseline_cli"] if args.baseline_root and "branchops_cli" in tools else []
    rounds = args.repeat if name == "full" else max(args.repeat_other, 1)
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    for i in range(max(rounds, args.repeat)):
        order = tools[i % len(tools):] + tools[:i % len(tools)]  # rotate who goes first
        for tool in order:
            if tool not in OURS and i >= rounds:
                continue
            if tool != "branchops" and runs[tool] and runs[tool][-1].get("timeout"):
                continue  # timed out once: not again
            if tool in ("branchops", "branchops_no_profiles", "baseline", "baseline_no_profiles"):
                res = run_child(sys.executable, ["ours", str(work), "main", ref, "bench.t",
                                                 "0" if tool.endswith("no_profiles") else "1"],
                                root=Path(args.baseline_root) if tool.startswith("baseline") else ROOT)
            elif tool.endswith("_cli"):
                (work / "branchops.toml").touch()  # the CLI finds the lakehouse by its config file
                argv = cli_argv(tool, work, data, ref, head, args.peers_python, args.baseline_root)
                res = run_cli(argv, work, None if tool != "reladiff_cli" else args.peer_timeout)
            elif tool == "engine_limit":
                res = run_child(sys.executable, ["engine_limit", str(work), "main", ref, "bench.t"])
            else:
                res = run_child(args.peers_python, [tool, data["db"], "base", head], args.peer_timeout)
            res["load_average_1m"] = round(os.getloadavg()[0], 2)  # just after the run
            runs[tool].append(res)
            print(name, tool, json.dumps(res), flush=True)
    entry: dict[str, Any] = {t: summary(r) for t, r in runs.items()}
    ours = entry["branchops"]
    for stat in ("min_seconds", "median_seconds", "min_cpu_seconds", "median_cpu_seconds"):
        short = stat.removesuffix("_seconds")
        for tool, suffix in (("branchops", ""), ("branchops_no_profiles", "_no_profiles"),
                             ("baseline", "_baseline"), ("baseline_no_profiles", "_baseline_no_profiles")):
            if tool in entry and stat in entry[tool] and stat in entry["engine_limit"]:
                limit = max(entry["engine_limit"][stat], 1e-9)
                entry[f"vs_engine_limit{suffix}_{short}"] = round(entry[tool][stat] / limit, 2)
                cold = entry[tool].get(f"{short}_cold_seconds")
                if cold is not None and "cpu" not in short:
                    entry[f"vs_engine_limit{suffix}_cold_{short}"] = round(cold / limit, 2)
        peers = [entry[t][stat] for t in tools if t not in OURS and not t.endswith("_cli") and stat in entry[t]]
        if peers and stat in ours:
            entry[f"speedup_vs_fastest_peer_{short}"] = round(min(peers) / max(ours[stat], 1e-9), 2)
        cli = entry.get("branchops_cli", {}), entry.get("reladiff_cli", {}), entry.get("baseline_cli", {})
        if stat in cli[0] and stat in cli[1]:
            entry[f"cli_speedup_vs_reladiff_{short}"] = round(cli[1][stat] / max(cli[0][stat], 1e-9), 2)
        if stat in cli[2] and stat in cli[1]:
            entry[f"cli_baseline_speedup_vs_reladiff_{short}"] = round(cli[1][stat] / max(cli[2][stat], 1e-9), 2)
        if stat in cli[0] and stat in cli[2]:
            entry[f"cli_speedup_vs_baseline_{short}"] = round(cli[2][stat] / max(cli[0][stat], 1e-9), 2)
    return entry


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--peers-python", default="/work/peers-venv/bin/python")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "diff.json"))
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--cli", action="store_true",
                    help="time whole `branchops diff` processes even with --skip-peers (and the baseline's with "
                         "--baseline-root: baseline_cli)")
    ap.add_argument("--peers", nargs="*", default=["reladiff", "data-diff"],
                    help="in-process peers (library calls); the CLI-to-CLI pair always runs unless --skip-peers")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--repeat-other", type=int, default=1)
    ap.add_argument("--peer-timeout", type=float, default=900.0)
    ap.add_argument("--work")
    ap.add_argument("--baseline-root", help="a checkout whose branchops runs as `baseline` (A/B in the same rounds)")
    ap.add_argument("--scenarios", nargs="+", choices=["identical", "confined", "full"])
    ap.add_argument("--child", nargs="+")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "ours":
            res = child_ours(*rest)
        elif kind == "engine_limit":
            res = child_engine_limit(*rest)
        else:
            res = child_peer(kind, *rest)
        res["peak_rss_mb"] = vm_hwm_mb()
        print(json.dumps(res))
        return
    from bytecode import ensure_bytecode

    from branchops.diff.compute import DIFF_MEMORY_LIMIT

    ensure_bytecode()  # whole-process times include imports, not compiling them from source
    if not args.skip_peers and Path(args.peers_python).exists():
        ensure_bytecode(args.peers_python)
    baseline_python = Path(str(args.baseline_root)) / ".venv" / "bin" / "python"
    if args.baseline_root and baseline_python.exists():
        ensure_bytecode(str(baseline_python), Path(args.baseline_root))
    load_before = [round(x, 2) for x in os.getloadavg()]
    with workdir(args.work) as work:
        marker = work / "bench-data.json"
        if marker.exists() and json.loads(marker.read_text())["rows"] == args.rows:
            data = json.loads(marker.read_text())
        else:
            t0 = time.perf_counter()
            data = build(work, args.rows, args.files)
            data.update(rows=args.rows, setup_seconds=round(time.perf_counter() - t0, 1))
            marker.write_text(json.dumps(data))
        names = args.scenarios or ["identical", "confined", "full"]
        scenarios = {name: scenario(name, work, data, args) for name in names}
    out = {"rows": args.rows, "columns": len(COLUMNS), "changed_fraction": 0.01,
           "setup_seconds": data["setup_seconds"], "data_files": data["data_files"],
           "confined_rows_changed": data["confined_rows_changed"], "memory_limit": DIFF_MEMORY_LIMIT,
           "rounds": {"full": args.repeat, "other": args.repeat_other, "branchops": args.repeat},
           "peer_timeout_seconds": args.peer_timeout,
           "baseline_root": args.baseline_root,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_average_before": load_before,
                       "load_average_after": [round(x, 2) for x in os.getloadavg()]},
           "scenarios": scenarios}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
