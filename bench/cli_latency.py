"""Whole-process latency of quick CLI commands, each next to a bare Python start; writes JSON.

    python bench/cli_latency.py              # -> bench/results/cli_latency.json
    python bench/cli_latency.py --quick      # 3 rounds instead of 15
    python bench/cli_latency.py --against /work/main/.venv/bin/python   # A/B with another checkout's venv

A user waits for the whole process: interpreter start, imports, config, the catalog work, output.
Each round runs every command once, interleaved with the baseline (``python -c "import sqlite3,
json"`` in the same venv), so a busy machine's noise falls on all of them alike; the ratio of
medians is the figure. Targets (issue 10): ``--help``, ``branch list`` and ``branch create`` at
1,000 tables <= 8x the baseline; ``diff`` of two refs with identical tables <= 10x.

``--against PYTHON`` runs every command a second time per round with that interpreter's
``branchops`` (another checkout's venv), on the same lakehouse, interleaved with this one's, and
reports both under ``commands`` (``against:`` keys) with the ratio of their medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).parent / "results" / "cli_latency.json"
TABLES = 1000
TARGETS = {"help": 8.0, "branch_list": 8.0, "branch_create": 8.0, "branch_show": None, "diff_identical": 10.0}


def _setup(work: Path) -> None:
    """A lakehouse whose main holds TABLES tables (pointer rows only: no command here reads data)."""
    from branchops.config import load_settings
    from branchops.lakehouse import Lakehouse
    from branchops.project_init import init_project

    init_project(work)
    with Lakehouse(load_settings(work / "branchops.toml")) as lh:
        names = [f"bench.t{i:05d}" for i in range(TABLES)]
        lh.catalog.commit("main", {t: f"file:///bench/{t.replace('.', '/')}/metadata/00000.metadata.json"
                                   for t in names}, f"{TABLES} tables")
        lh.catalog.create_branch("same", "main")


def _run(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def run(rounds: int, against: str | None = None) -> dict[str, Any]:
    exe = str(Path(sys.executable).with_name("branchops"))
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        _setup(work)
        commands: dict[str, list[str]] = {
            "baseline": [sys.executable, "-c", "import sqlite3, json"],
            "help": [exe, "--help"],
            "branch_list": [exe, "branch", "list"],
            "branch_create": [exe, "branch", "create", "{name}"],
            "branch_show": [exe, "branch", "show", "main"],
            "diff_identical": [exe, "diff", "same", "--base", "main"],
        }
        if against is not None:
            other = str(Path(against).with_name("branchops"))
            commands.update({f"against:{k}": [other if a == exe else a for a in argv]
                             for k, argv in commands.items() if k != "baseline"})
        times: dict[str, list[float]] = {k: [] for k in commands}
        load_start = os.getloadavg()
        for r in range(rounds + 1):
            for key, argv in commands.items():
                name = f"b{r}a" if key.startswith("against:") else f"b{r}"  # a new branch per run
                seconds = _run([a.replace("{name}", name) for a in argv], work)
                if r:  # the first round warms the file cache
                    times[key].append(seconds)
    base = statistics.median(times["baseline"])
    results: dict[str, Any] = {}
    for key, ts in times.items():
        med = statistics.median(ts)
        entry: dict[str, Any] = {"p50_ms": round(med * 1000, 1), "min_ms": round(min(ts) * 1000, 1), "n": len(ts)}
        if key != "baseline":
            entry["ratio_to_baseline"] = round(med / base, 2)
            target = TARGETS.get(key.removeprefix("against:"))
            if target is not None:
                entry["target_ratio"] = target
                entry["meets_target"] = med / base <= target
        results[key] = entry
    for key in [k for k in results if k.startswith("against:")]:
        mine = key.removeprefix("against:")
        results[mine]["ratio_to_against"] = round(results[mine]["p50_ms"] / results[key]["p50_ms"], 3)
    return {
        "meta": {"when": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
                 "cpus": os.cpu_count(), "tables_on_main": TABLES, "rounds": rounds,
                 "loadavg_at_start": [round(x, 2) for x in load_start],
                 "loadavg_at_end": [round(x, 2) for x in os.getloadavg()], "against": against},
        "commands": results,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--against", metavar="PYTHON", help="also time another venv's branchops (A/B, interleaved)")
    args = parser.parse_args()
    from bytecode import ensure_bytecode

    ensure_bytecode()  # users run with bytecode caches; see bench/bytecode.py
    result = run(3 if args.quick else args.rounds, args.against)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["commands"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
