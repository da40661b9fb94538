"""Benchmark: one PR changing one model of the sample project (JSON -> bench/results/pr_cycle.json).

Measures, on a fresh embedded lakehouse with the sample raw data at ``--scale`` (1 ~ 1M orders):
- ``full_build_s``: a plain full ``dbt build`` of the project on a branch (what CI would do
  without state selection);
- ``open_report_s``: ``pr open`` of a PR that changes one model (fork, dbt build of
  state:modified+ with tests, diff of every changed table, report rendered);
- ``merge_s``: ``pr merge`` of that PR (gates, atomic merge into main, branch dropped).
The ratio open/full says what zero-copy branches and state selection save per push.

    python bench/pr_cycle.py [--scale 1.0] [--model monthly_revenue] [--out bench/results/pr_cycle.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CHANGES = {
    "monthly_revenue": ("sum(revenue) as revenue",
                        "sum(revenue) as revenue,\n    sum(revenue) / sum(orders) as avg_order_value"),
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--model", default="monthly_revenue", choices=sorted(CHANGES))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pr_cycle.json")
    args = ap.parse_args(argv)

    from branchops import dbt
    from branchops.config import load_settings
    from branchops.demo import load_demo_data
    from branchops.lakehouse import Lakehouse
    from branchops.pr import PullRequests, Reporter
    from branchops.setup import init_project

    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        os.environ.pop(var, None)
    work = Path(tempfile.mkdtemp(prefix="branchops-bench-pr-"))
    try:
        init_project(work / "lh", threads=args.threads)
        lh = Lakehouse(load_settings(work / "lh" / "branchops.toml"))
        t = time.perf_counter()
        rows = load_demo_data(lh, args.scale)["rows"]
        demo_s = time.perf_counter() - t
        project = work / "dbt_project"
        shutil.copytree(ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))

        t = time.perf_counter()
        dbt.build(lh, "main", project, dbt_output="stderr")  # production: main's stored manifest
        main_build_s = time.perf_counter() - t

        lh.catalog.create_branch("bench-full", from_ref="main")
        t = time.perf_counter()
        full = dbt.build(lh, "bench-full", project, dbt_output="stderr")
        full_build_s = time.perf_counter() - t
        lh.catalog.drop_branch("bench-full")

        model = next(project.rglob(f"{args.model}.sql"))
        old, new = CHANGES[args.model]
        model.write_text(model.read_text().replace(old, new))
        reports: list[str] = []
        prs = PullRequests(lh, Reporter(None, echo=reports.append, env={}))
        t = time.perf_counter()
        opened = prs.sync(1, "b" * 40, project)
        open_s = time.perf_counter() - t
        t = time.perf_counter()
        merged = prs.merge(1, "b" * 40)
        merge_s = time.perf_counter() - t
        lh.close()
        result = {
            "benchmark": "pr_cycle",
            "scale": args.scale,
            "raw_rows": rows,
            "changed_model": args.model,
            "threads": args.threads,
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
            "demo_data_s": round(demo_s, 3),
            "main_build_s": round(main_build_s, 3),
            "full_build_s": round(full_build_s, 3),
            "full_build_models": len(full.built),
            "open_report_s": round(open_s, 3),
            "open_timings_s": {k: round(v, 3) for k, v in opened.timings.items()},
            "open_status": opened.status.value,
            "models_built_on_pr": len((opened.build or {}).get("built", [])),
            "changed_tables": opened.changed_tables,
            "report_bytes": len(reports[0].encode()) if reports else 0,
            "open_vs_full_ratio": round(open_s / full_build_s, 3) if full_build_s else None,
            "merge_s": round(merge_s, 3),
            "merge_status": merged.status.value,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
