"""Benchmark: a pruned keyed diff that pairs its sources directly vs the one pass that stores the
differing rows first (``rows.PAIRED_MAX_ROWS``).

    python bench/diff_paired_ab.py --work DIR [--rounds 7] [--ref confined] [--out FILE]

DIR is a ``bench/diff.py --work DIR`` data set (10M rows by default; ``confined`` rewrites the
first 1% of ids: 2 of 201 files, 200,000 rows read). Both variants are the whole
``diff_refs`` call in one process (imports and a first diff done before the clock), taking turns
in a rotating order; ``one_pass`` sets ``PAIRED_MAX_ROWS`` to 0. The JSON keeps wall and CPU
seconds of every run, the load average after each, and whether both gave the same result.
Writes bench/results/diff_paired_ab.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from diff import cpu_now  # noqa: E402  (bench/diff.py: CPU seconds of this process, every thread)


def main() -> None:
    from branchops.config import Settings
    from branchops.diff import diff_refs
    from branchops.diff import rows as rows_mod
    from branchops.lakehouse import Lakehouse

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--ref", default="confined")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "diff_paired_ab.json"))
    args = ap.parse_args()
    lh = Lakehouse(Settings(root=Path(args.work)))
    limits = {"paired": rows_mod.PAIRED_MAX_ROWS, "one_pass": 0}
    keys = {"bench.t": ("id",)}
    results: dict[str, dict[str, Any]] = {}
    for name, limit in limits.items():  # warm-up: imports, first reads
        rows_mod.PAIRED_MAX_ROWS = limit
        table = diff_refs(lh, "main", args.ref, keys=keys, sample=5).tables[0]
        results[name] = {"runs": [], "method": table.method.value, "result": table.to_dict()}
    load_before = [round(x, 2) for x in os.getloadavg()]
    names = list(limits)
    for i in range(args.rounds):
        for name in names[i % 2:] + names[:i % 2]:
            rows_mod.PAIRED_MAX_ROWS = limits[name]
            t0, c0 = time.perf_counter(), cpu_now()
            diff_refs(lh, "main", args.ref, keys=keys, sample=5)
            results[name]["runs"].append({"seconds": round(time.perf_counter() - t0, 4),
                                          "cpu_seconds": round(cpu_now() - c0, 3),
                                          "load_average_1m": round(os.getloadavg()[0], 2)})
    lh.close()
    same = results["paired"].pop("result") == results["one_pass"].pop("result")
    for entry in results.values():
        secs = [r["seconds"] for r in entry["runs"]]
        cpu = [r["cpu_seconds"] for r in entry["runs"]]
        entry.update(min_seconds=min(secs), median_seconds=round(statistics.median(secs), 4),
                     min_cpu_seconds=min(cpu), median_cpu_seconds=round(statistics.median(cpu), 4))
    out = {"ref": args.ref, "rounds": args.rounds, "paired_max_rows": limits["paired"], "same_result": same,
           "one_pass_over_paired_min": round(results["one_pass"]["min_seconds"] / results["paired"]["min_seconds"], 2),
           "one_pass_over_paired_median": round(
               results["one_pass"]["median_seconds"] / results["paired"]["median_seconds"], 2),
           "machine": {"cpus": os.cpu_count(), "load_average_before": load_before,
                       "load_average_after": [round(x, 2) for x in os.getloadavg()]},
           "variants": results}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
