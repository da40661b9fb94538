"""Benchmark: the dbt-trino PR cycle with ``trino_catalogs = "static"`` versus ``"dynamic"``.

    python bench/trino_catalogs.py [--scale 0.001] [--rounds 1] [--out bench/results/trino_catalogs.json]

On the production stack the integration tests start (``tests/integration``: Nessie 0.95 test
server, moto S3, Trino 476 on Java 24+, all on loopback), the same PR cycle runs once per mode
and round, each command a fresh ``branchops`` process as in CI, timed from outside:

1. ``pr open`` PR 1 (the sample project, every model built by dbt-trino, diffed) -> ``pr merge``;
2. ``pr open`` PR 2 (one model changed: it alone rebuilt, its diff keyed) -> ``pr merge``.

``dynamic``: a Trino with ``catalog.management=dynamic``; branchops creates one Iceberg catalog
per branch. ``static``: a Trino with ``catalog.management=static`` and one preconfigured Iceberg
REST catalog at ``branchops serve`` (a thread of this process, over the same Nessie and S3);
branchops never creates a catalog. Each mode gets a fresh Trino, a fresh Nessie repository and
its own S3 prefix; the demo data is ingested before the clock starts. Modes alternate per round
(static first in odd rounds), so neither always runs on the JVM-warm machine. The JSON records
each command's seconds, the cycle total per mode, the ratio static/dynamic (issue 12: static
must not be slower, ratio <= 1 within noise) and the machine's load average (it is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "integration")]

DEFAULT_OUT = ROOT / "bench" / "results" / "trino_catalogs.json"
CATALOG = "lake"
SHA1, SHA2 = "6dcb09b5b57875f334f61aebed695e2e4193db5e", "b" * 40
STEPS = ("open_pr1", "merge_pr1", "open_pr2", "merge_pr2")


def _cycle(mode: str, work: Path, s3: Any, nessie: Any, scale: float) -> dict[str, Any]:
    """One PR cycle on a fresh Trino in ``mode``; returns each step's seconds."""
    from prod_cli import Cli, write_config
    from test_pr_production import SAMPLE_PROJECT, checkout, demo_files
    from trino_server import start_trino

    from branchops.config import Settings
    from branchops.engine.trino import SCRATCH_CATALOG
    from branchops.engine.trino_settings import static_catalog_properties
    from branchops.lakehouse import Lakehouse
    from branchops.rest import RestServer

    keys = s3.admin.env()
    settings = Settings(
        root=work, backend="nessie", nessie_uri=nessie.fresh_repo(),
        warehouse=f"{s3.warehouse}/{uuid.uuid4().hex[:12]}", engine="trino", s3_endpoint=s3.endpoint,
        s3_region=s3.region, io_properties={"s3.access-key-id": keys["AWS_ACCESS_KEY_ID"],
                                            "s3.secret-access-key": keys["AWS_SECRET_ACCESS_KEY"]})
    with Lakehouse(settings) as lh:
        rest = RestServer(lh.catalog).start() if mode == "static" else None
        try:
            catalogs = None
            overrides: dict[str, Any] = {}
            if rest is not None:
                catalogs = {CATALOG: static_catalog_properties(settings, rest.uri),
                            SCRATCH_CATALOG: {"connector.name": "memory"}}
                overrides = {"trino_catalogs": "static", "trino_catalog": CATALOG}
            trino = start_trino(work / "trino", static_catalogs=catalogs)
            try:
                settings = settings.replace(trino_uri=trino.uri, io_properties={})
                cli = Cli(write_config(settings, work / "lh", threads=2, **overrides), env=keys)
                for table, path in demo_files(work / "raw", scale).items():
                    cli.json("ingest", table, str(path))
                project = checkout(SAMPLE_PROJECT, work / "project")
                changed = checkout(project, work / "project-2",
                                   ("customer_segments", "lifetime_value >= 300", "lifetime_value >= 100"))
                steps: dict[str, float] = {}
                for step, args, expect in (
                    ("open_pr1", ("pr", "open", "--pr", "1", "--sha", SHA1, "--project-dir", str(project)), "passed"),
                    ("merge_pr1", ("pr", "merge", "--pr", "1", "--sha", SHA1), "merged"),
                    ("open_pr2", ("pr", "open", "--pr", "2", "--sha", SHA2, "--project-dir", str(changed)), "passed"),
                    ("merge_pr2", ("pr", "merge", "--pr", "2", "--sha", SHA2), "merged"),
                ):
                    started = time.perf_counter()
                    out = cli.json(*args)
                    steps[step] = round(time.perf_counter() - started, 2)
                    if out.get("status") != expect:
                        raise RuntimeError(f"{mode}: {step} ended {out.get('status')!r}: {out.get('reason')}")
                    if step == "open_pr2" and out.get("changed_tables") != ["analytics.customer_segments"]:
                        raise RuntimeError(f"{mode}: PR 2 changed {out.get('changed_tables')}")
                return {"steps": steps, "cycle_s": round(sum(steps.values()), 2),
                        "trino_startup_s": round(trino.startup_seconds, 1),
                        "load_average_1m_after": round(os.getloadavg()[0], 1)}
            finally:
                trino.stop()
        finally:
            if rest is not None:
                rest.stop()


def run(scale: float, rounds: int) -> dict[str, Any]:
    from nessie_server import start_nessie
    from s3_server import start_s3

    runs: dict[str, list[dict[str, Any]]] = {"static": [], "dynamic": []}
    with tempfile.TemporaryDirectory(prefix="bench-trino-catalogs-") as tmp:
        work = Path(tmp)
        s3 = start_s3(work / "s3")
        nessie = start_nessie(work / "nessie")
        try:
            for r in range(rounds):
                order = ("static", "dynamic") if r % 2 == 0 else ("dynamic", "static")
                for mode in order:
                    print(f"round {r + 1}/{rounds}: {mode} ...", file=sys.stderr, flush=True)
                    runs[mode].append(_cycle(mode, work / f"{mode}-{r}", s3, nessie, scale))
        finally:
            nessie.stop()
            s3.stop()
    out: dict[str, Any] = {}
    for mode, cycles in runs.items():
        out[mode] = {"cycle_s_median": round(statistics.median(c["cycle_s"] for c in cycles), 2),
                     "steps_median": {s: round(statistics.median(c["steps"][s] for c in cycles), 2) for s in STEPS},
                     "runs": cycles}
    static, dynamic = out["static"]["cycle_s_median"], out["dynamic"]["cycle_s_median"]
    out["ratio_static_over_dynamic"] = round(static / dynamic, 3)
    out["steps_ratio_static_over_dynamic"] = {
        s: round(out["static"]["steps_median"][s] / out["dynamic"]["steps_median"][s], 3) for s in STEPS}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.001, help="demo data scale (1 ~ 1M orders)")
    ap.add_argument("--rounds", type=int, default=1, help="cycles per mode (modes alternate)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    load_before = round(os.getloadavg()[0], 1)
    started = time.perf_counter()
    results = run(args.scale, args.rounds)
    out = {
        "benchmark": "trino_catalogs", "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1m_before": load_before, "load_average_1m_after": round(os.getloadavg()[0], 1)},
        "setup": {"stack": "Nessie 0.95 + moto S3 + Trino 476 (single node), loopback",
                  "project": "tests sample dbt project (dbt-trino)", "scale": args.scale, "rounds": args.rounds,
                  "cycle": list(STEPS), "static": "catalog.management=static, one REST catalog at branchops serve",
                  "dynamic": "catalog.management=dynamic, one catalog per branch"},
        "results": results, "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
