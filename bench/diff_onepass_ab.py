"""Benchmark: the keyed diff's one pass alone, with every profile figure aggregated vs with the
figures the manifests give exactly left out (``onepass.known_figures``), and without profiles.

    python bench/diff_onepass_ab.py --work DIR [--rounds 3] [--ref full] [--out FILE]

DIR is a ``bench/diff.py --work DIR`` data set (10M rows by default). Each variant is the
``CREATE TEMP TABLE AS`` of ``onepass.joined_pass`` on the same Parquet files, in one process with
the diff's memory limit, the variants taking turns in a rotating order; the JSON keeps wall and CPU
seconds (user + system, every DuckDB thread) of every run and the load average. On a shared
machine the CPU seconds are the steadier comparison. Writes bench/results/diff_onepass_ab.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from diff import plan_connection, rotating_rounds, summarized  # noqa: E402  (bench/diff.py)

COLUMNS = ["id", "a", "b", "c", "d", "x", "y", "z", "s", "t"]


def main() -> None:

    from branchops.config import Settings
    from branchops.diff import onepass as op
    from branchops.diff import queries as q
    from branchops.diff.compute import DIFF_MEMORY_LIMIT
    from branchops.diff.snapshots import TableSnapshot, exact_stats
    from branchops.lakehouse import Lakehouse

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--ref", default="full")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "diff_onepass_ab.json"))
    args = ap.parse_args()

    lh = Lakehouse(Settings(root=Path(args.work)))
    snaps = [TableSnapshot.load(lh.catalog.load_table(r, "bench.t")) for r in ("main", args.ref)]
    lh.close()
    cols = [q.DiffColumn(n, numeric=n not in ("s", "t"), is_float=n in ("x", "y", "z")) for n in COLUMNS]
    exact = (exact_stats(snaps[0].files(), snaps[0].schema, COLUMNS),
             exact_stats(snaps[1].files(), snaps[1].schema, COLUMNS))
    known = op.known_figures(cols, exact)

    def src(i: int) -> Any:
        return q.source("read_parquet([" + ", ".join(f"'{f}'" for f in snaps[i].files()) + "])", "duckdb")

    variants = {
        "all_aggregated": op.joined_pass(src(0), src(1), ["id"], cols, "duckdb", profile=True),
        "manifest_figures": op.joined_pass(src(0), src(1), ["id"], cols, "duckdb", profile=True, known=known),
        "no_profiles": op.joined_pass(src(0), src(1), ["id"], cols, "duckdb", profile=False),
    }
    con = plan_connection(DIFF_MEMORY_LIMIT)
    names = list(variants)
    load_before = [round(x, 2) for x in os.getloadavg()]

    def run(name: str) -> None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE g AS {variants[name].sql('duckdb')}")

    runs = rotating_rounds(names, args.rounds, run)
    out: dict[str, Any] = {
        "ref": args.ref, "rows": sum(f.record_count for f in snaps[0].files().values()),
        "known_from_manifests": {k: sorted(v) for k, v in known.items()},
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "variants": summarized(runs),
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({n: {k: v for k, v in e.items() if k != "runs"} for n, e in out["variants"].items()}, indent=1))


if __name__ == "__main__":
    main()
