"""What the per-job role guards cost on PostgreSQL; writes JSON, never fails a build.

    python bench/role_guards.py [--tables 1000] [--repeats 30] [--out bench/results/role_guards.json]

On one throwaway PostgreSQL server (tests/pgserver.py) and a catalog whose main holds
``--tables`` pointer rows, it times a branch create (the zero-copy fork: one guarded row per
table) and a one-pointer commit, p50/p95:

1. baseline: the tables' owner, before ``branchops init --apply-roles`` (no triggers);
2. the owner with the guards in place;
3. a login in the PR role with the guards in place (every row checked).

Ratios are against the baseline of the same run, so figures from a busy machine still compare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pgserver

from branchops.catalog import load_catalog
from branchops.config import Settings
from branchops.security.postgres_roles import role_setup

DEFAULT_OUT = Path(__file__).parent / "results" / "role_guards.json"


def timed(fn: Callable[[], object], repeats: int) -> dict[str, float | int]:
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    ordered = sorted(ms)
    return {"p50_ms": round(statistics.median(ms), 3), "p95_ms": round(ordered[int(0.95 * (len(ms) - 1))], 3),
            "n": len(ms)}


def measure(settings: Settings, repeats: int) -> dict[str, Any]:
    catalog = load_catalog(settings)
    try:
        def fork() -> None:
            name = f"pr-{uuid.uuid4().hex[:10]}"
            catalog.create_branch(name)
            catalog.drop_branch(name)

        branch = f"pr-{uuid.uuid4().hex[:10]}"
        catalog.create_branch(branch)
        counter = iter(range(10**9))

        def commit() -> None:
            catalog.commit(branch, {"bench.t0": f"file:///bench/t0-{next(counter)}.metadata.json"}, "bench")

        out = {"branch_create": timed(fork, repeats), "commit_one_pointer": timed(commit, repeats)}
        catalog.drop_branch(branch)
        return out
    finally:
        catalog.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    server = pgserver.start_server()
    try:
        url = server.create_schema(server.create_database("bench"))
        admin = Settings(root=Path.cwd(), catalog_uri=url, warehouse="/tmp/bench-wh")
        catalog = load_catalog(admin)
        catalog.commit("main", {f"bench.t{i}": f"file:///bench/t{i}.metadata.json" for i in range(args.tables)},
                       "bench tables")
        catalog.close()
        results: dict[str, Any] = {"meta": {
            "when": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
            "cpus": os.cpu_count(), "loadavg_at_start": list(os.getloadavg()), "tables": args.tables,
            "repeats": args.repeats}}
        results["baseline_owner_no_guards"] = measure(admin, args.repeats)
        prefix = f"bench{uuid.uuid4().hex[:6]}"
        role_setup(admin, prefix=prefix, apply=True)
        results["owner_with_guards"] = measure(admin, args.repeats)
        server._admin(f'CREATE ROLE "{prefix}_login" LOGIN IN ROLE "{prefix}_pr"')
        pr_url = make_url(url).set(username=f"{prefix}_login").render_as_string(hide_password=False)
        results["pr_role_with_guards"] = measure(admin.replace(catalog_uri=pr_url), args.repeats)
        base = results["baseline_owner_no_guards"]
        results["ratios_p50_vs_baseline"] = {
            who: {op: round(results[who][op]["p50_ms"] / base[op]["p50_ms"], 2) for op in base}
            for who in ("owner_with_guards", "pr_role_with_guards")}
        results["meta"]["loadavg_at_end"] = list(os.getloadavg())
    finally:
        server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["ratios_p50_vs_baseline"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
