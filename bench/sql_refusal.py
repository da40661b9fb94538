"""How long ``branchops sql`` takes to refuse a write, in-process; writes JSON.

    python bench/sql_refusal.py            # -> bench/results/sql_refusal.json

The refusal path now parses the statement before an engine is set up (``check_statement``); the
baseline, measured in the same run and interleaved, is the old order: DuckDB engine started
(its Iceberg extension loaded), then ``run_read_only`` refusing. The ratio of medians is the figure.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).parent / "results" / "sql_refusal.json"
SQL = "insert into raw.orders values (1, 2)"
ROUNDS = 9


def main() -> None:
    import pyarrow as pa

    from branchops.cli import main as cli
    from branchops.config import load_settings
    from branchops.engine import load_engine
    from branchops.errors import UsageError
    from branchops.lakehouse import Lakehouse
    from branchops.project_init import init_project
    from branchops.sql_guard import run_read_only

    work = Path(tempfile.mkdtemp()) / "lh"
    init_project(work)
    os.environ["BRANCHOPS_CONFIG"] = str(work / "branchops.toml")
    settings = load_settings()
    with Lakehouse(settings) as lh:
        lh.ingest("raw.orders", pa.table({"id": [1], "amount": [2]}))

    def old_order() -> None:
        with Lakehouse(settings) as lh:
            engine = load_engine(settings, lh.catalog)
            try:
                run_read_only(engine, "main", SQL)
            except UsageError:
                pass
            finally:
                engine.close()

    def new_cli() -> None:
        try:
            cli(["sql", SQL])
        except SystemExit as e:
            assert e.code == 2

    devnull = open(os.devnull, "w")  # noqa: SIM115 - the CLI's error lines are not the figure
    old, new = [], []
    for _ in range(ROUNDS):
        for fn, out in ((old_order, old), (new_cli, new)):
            saved, sys.stderr = sys.stderr, devnull
            start = time.perf_counter()
            try:
                fn()
            finally:
                sys.stderr = saved
            out.append(time.perf_counter() - start)
    result = {
        "what": "in-process `branchops sql <INSERT>` refusal vs engine-first refusal (same run, interleaved)",
        "rounds": ROUNDS,
        "engine_first_median_s": round(statistics.median(old), 4),
        "parse_first_cli_median_s": round(statistics.median(new), 4),
        "ratio_cli_over_engine_first": round(statistics.median(new) / statistics.median(old), 3),
        "loadavg": os.getloadavg(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
