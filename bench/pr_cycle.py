"""Benchmark: small PRs on a 20-model project, each command in a fresh process
(JSON -> bench/results/pr_cycle.json).

A synthetic dbt project over the demo raw data (``--scale``; 1 ~ 1M orders): ``hub`` (orders)
with 10 models downstream of it, and 9 independent leaf models over customers (20 models).
Every step below runs ``branchops`` as a new process, as CI does, so dbt's import and parse
count. Measured in the same run:

- ``full_build_s``: ``branchops dbt build`` of the whole project on a fresh branch of main, with
  its steps (``full_build_timings_s``), the models' own execution time and the time outside the
  run (process start, imports before it, exit);
- ``open_report_s``: ``branchops pr open`` of a PR adding a column to one leaf model (fork,
  classification, build, tests, diff, report), with the partial-parse state stored with main's
  build; ``open_no_partial_parse_s``: the same PR with dbt's partial parsing off (before this
  change every run parsed from scratch); ratios of both against the full build;
- ``nonbreaking``: a PR adding a column to ``hub``: models built with ``--classify on`` (1; its
  10 downstream models keep main's tables) and ``--classify off`` (11, state:modified+), timed.

``--baseline-root DIR`` (a checkout of another commit, e.g. ``git worktree add ../base main``) adds
``ab``: ``--rounds`` rounds of the full build and the leaf PR's ``pr open`` run by that checkout's
code and by this one (same interpreter and packages, ``PYTHONPATH`` picks the code), interleaved
(ABBA) on the same lakehouse at the same load, each round's load average recorded.

    python bench/pr_cycle.py [--scale 0.1] [--out bench/results/pr_cycle.json]
    python bench/pr_cycle.py --scale 10 --baseline-root ../base --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHA = "b" * 40
DOWNSTREAM = 10
LEAVES = 9


def write_project(folder: Path) -> None:
    """hub + DOWNSTREAM models reading it + LEAVES independent models: 20 models."""
    models = folder / "models"
    models.mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(
        "name: bench_shop\nversion: '1.0.0'\nconfig-version: 2\nprofile: bench_shop\nmodel-paths: [models]\n"
        "models:\n  bench_shop:\n    +materialized: table\n")
    (models / "sources.yml").write_text(
        "version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables:\n      - name: orders\n"
        "      - name: customers\n")
    (models / "hub.sql").write_text(
        "select\n    order_id,\n    customer_id,\n    order_date,\n    status\nfrom {{ source('raw', 'orders') }}\n")
    for i in range(1, DOWNSTREAM + 1):
        (models / f"daily_{i:02d}.sql").write_text(
            f"select order_date, count(*) as orders, count(distinct customer_id) as customers\n"
            f"from {{{{ ref('hub') }}}}\nwhere order_id % {DOWNSTREAM} <> {i - 1}\ngroup by order_date\n")
    for i in range(1, LEAVES + 1):
        (models / f"leaf_{i:02d}.sql").write_text(
            f"select\n    customer_id,\n    country\nfrom {{{{ source('raw', 'customers') }}}}\n"
            f"where customer_id % {LEAVES} = {i - 1}\n")


def edited(project: Path, model: str, old: str, new: str, tag: str) -> Path:
    copy = project.parent / f"{project.name}-{tag}"
    shutil.copytree(project, copy)
    path = copy / "models" / f"{model}.sql"
    text = path.read_text()
    assert old in text, (model, old)
    path.write_text(text.replace(old, new))
    return copy


#: CPU seconds (user + system) of each labelled ``branchops`` process: on a loaded shared machine
#: the wall clock mostly measures the other workers, CPU time much less so
CPU_S: dict[str, float] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def branchops(config: Path, *args: str, env: dict[str, str] | None = None, label: str = "",
              root: Path | None = None) -> tuple[float, dict[str, Any]]:
    """One fresh ``branchops`` process with ``--output json``; (seconds, its JSON). ``root``: run
    that checkout's code instead (first on ``PYTHONPATH``)."""
    started, cpu = time.perf_counter(), _children_cpu()
    code = {"PYTHONPATH": str(root)} if root is not None else {}
    proc = subprocess.run(
        [sys.executable, "-m", "branchops", "--config", str(config), "--output", "json", *args],
        capture_output=True, text=True, env={**os.environ, **(env or {}), **code}, check=False,
        cwd=root or ROOT,  # ``-m`` puts the working directory first on sys.path
    )
    seconds = time.perf_counter() - started
    if label:
        CPU_S[label] = round(_children_cpu() - cpu, 3)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"branchops {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pr_cycle.json")
    ap.add_argument("--baseline-root", type=Path, help="a checkout whose code runs as the baseline (A/B)")
    ap.add_argument("--rounds", type=int, default=3, help="A/B rounds (with --baseline-root)")
    args = ap.parse_args(argv)

    from branchops.config import load_settings
    from branchops.demo import load_demo_data
    from branchops.lakehouse import Lakehouse
    from branchops.project_init import init_project

    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        os.environ.pop(var, None)
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="branchops-bench-pr-"))
    try:
        init_project(work / "lh", threads=args.threads)
        config = work / "lh" / "branchops.toml"
        with Lakehouse(load_settings(config)) as lh:
            rows = load_demo_data(lh, args.scale)["rows"]
        project = work / "project"
        write_project(project)
        main_build_s, _ = branchops(config, "dbt", "build", "--branch", "main", "--project-dir", str(project))
        with Lakehouse(load_settings(config)) as lh:
            lh.catalog.create_branch("bench-full", from_ref="main")
        full_build_s, full = branchops(config, "dbt", "build", "--branch", "bench-full", "--project-dir", str(project),
                                       label="full_build")

        leaf = edited(project, "leaf_09", "    country\n", "    country,\n    upper(country) as country_code\n", "leaf")
        ab = (ab_rounds(config, project, leaf, args.baseline_root.resolve(), args.rounds)
              if args.baseline_root else None)
        open_s, opened = branchops(config, "pr", "open", "--pr", "1", "--sha", SHA, "--project-dir", str(leaf),
                                   label="open")
        cold_s, cold = branchops(config, "pr", "open", "--pr", "2", "--sha", SHA, "--project-dir", str(leaf),
                                 env={"DBT_PARTIAL_PARSE": "false"})
        merge_s, merged = branchops(config, "pr", "merge", "--pr", "1", "--sha", SHA)

        # on top of the leaf change merged above: hub is the only difference from main
        hub = edited(leaf, "hub", "    status\n", "    status,\n    upper(status) as status_code\n", "hub")
        on_s, on = branchops(config, "pr", "open", "--pr", "3", "--sha", SHA, "--project-dir", str(hub),
                             label="classify_on")
        off_s, off = branchops(config, "pr", "open", "--pr", "4", "--sha", SHA, "--project-dir", str(hub),
                               "--classify", "off", label="classify_off")
        built = lambda out: len((out.get("build") or {}).get("built", []))  # noqa: E731
        models_s = sum(n.get("execution_time") or 0.0 for n in full.get("nodes") or []
                       if n.get("resource_type") == "model")
        open_build = opened.get("build") or {}
        result = {
            "benchmark": "pr_cycle",
            "scale": args.scale,
            "raw_rows": rows,
            "project_models": 1 + DOWNSTREAM + LEAVES,
            "threads": args.threads,
            "fresh_process": True,
            # the machine is shared: the load average (1, 5, 15 min) at the start and the end of the run
            "loadavg_start": [round(x, 2) for x in load_before],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            # PYTHONDONTWRITEBYTECODE=1 with an install that compiled nothing makes every fresh process
            # compile dbt, sqlglot and pyiceberg from source (~1,900 modules): the dominant fixed cost
            "pythondontwritebytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
            "bytecode_cached": _bytecode_cached(),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
            "main_build_s": round(main_build_s, 3),
            "full_build_s": round(full_build_s, 3),
            "full_build_models": len(full.get("built") or full.get("published") or []),
            # the full build's steps in its process (parse: dbt's import and parse; dbt: the build
            # invocation; publish: writing its tables), the models' own execution time as dbt
            # reports it, and what the process spent outside the run (start, imports, exit)
            "full_build_timings_s": full.get("timings"),
            "full_build_models_exec_s": round(models_s, 3),
            "full_build_outside_run_s": round(full_build_s - (full.get("timings") or {}).get("total", 0.0), 3),
            "changed_model": "leaf_09",
            "open_report_s": round(open_s, 3),
            "open_status": opened["status"],
            "open_timings_s": opened.get("timings"),
            # the build step's dbt run (parse, prepare: parse + classification + lookups, dbt, publish)
            "open_build_timings_s": open_build.get("timings"),
            "open_classify_s": (open_build.get("lineage") or {}).get("seconds"),
            "open_outside_sync_s": round(open_s - (opened.get("timings") or {}).get("total", 0.0), 3),
            "models_built_on_pr": built(opened),
            "changed_tables": opened.get("changed_tables"),
            "open_vs_full_ratio": round(open_s / full_build_s, 3),
            # CPU seconds of the processes (all threads: DuckDB's too), and the same ratio by CPU time
            "cpu_s": CPU_S,
            "open_vs_full_cpu_ratio": round(CPU_S["open"] / CPU_S["full_build"], 3),
            "open_no_partial_parse_s": round(cold_s, 3),
            "open_no_partial_parse_status": cold["status"],
            "open_no_partial_parse_vs_full_ratio": round(cold_s / full_build_s, 3),
            "merge_s": round(merge_s, 3),
            "merge_status": merged["status"],
            "nonbreaking": {
                "changed_model": "hub", "downstream_models": DOWNSTREAM,
                "classify_on": {"seconds": round(on_s, 3), "status": on["status"], "models_built": built(on),
                                "classify_s": ((on.get("build") or {}).get("lineage") or {}).get("seconds"),
                                "kept_from_base": len(((on.get("build") or {}).get("lineage") or {})
                                                      .get("kept_from_base", []))},
                "classify_off": {"seconds": round(off_s, 3), "status": off["status"], "models_built": built(off)},
                "on_vs_off_ratio": round(on_s / off_s, 3),
            },
        }
        if ab is not None:
            result["ab"] = ab
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


def ab_rounds(config: Path, project: Path, leaf: Path, baseline_root: Path, rounds: int) -> dict[str, Any]:
    """The full build and the leaf PR's ``pr open``, by the baseline's code and ours, interleaved."""
    from branchops.config import load_settings
    from branchops.lakehouse import Lakehouse

    sides = {"baseline": baseline_root, "ours": ROOT}
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    loads = []
    for r in range(rounds):
        loads.append([round(x, 2) for x in os.getloadavg()])
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for side in order:
            branch = f"bench-ab-{side}-{r}"
            with Lakehouse(load_settings(config)) as lh:
                lh.catalog.create_branch(branch, from_ref="main")
            full_s, _ = branchops(config, "dbt", "build", "--branch", branch, "--project-dir", str(project),
                                     label=f"ab_full_{side}", root=sides[side])
            runs[side].append({"full_build_s": round(full_s, 3), "full_cpu_s": CPU_S[f"ab_full_{side}"]})
        for side in reversed(order):
            pr = str(100 + 2 * r + (side == "ours"))
            open_s, opened = branchops(config, "pr", "open", "--pr", pr, "--sha", SHA, "--project-dir", str(leaf),
                                       label=f"ab_open_{side}", root=sides[side])
            build = opened.get("build") or {}
            runs[side][-1].update({
                "open_s": round(open_s, 3), "open_cpu_s": CPU_S[f"ab_open_{side}"], "open_status": opened["status"],
                "models_built": len(build.get("built", [])), "open_build_timings_s": build.get("timings"),
                "open_classify_s": (build.get("lineage") or {}).get("seconds"),
                "open_outside_sync_s": round(open_s - (opened.get("timings") or {}).get("total", 0.0), 3),
                "classification": [(m.get("model"), m.get("kind"), m.get("reason"))
                                   for m in (build.get("lineage") or {}).get("models", [])],
            })
    loads.append([round(x, 2) for x in os.getloadavg()])
    out: dict[str, Any] = {"baseline_root": str(baseline_root), "rounds": rounds, "order": "ABBA per round",
                           "loadavg_per_round": loads, "runs": runs}
    for side, rs in runs.items():
        med = {k: statistics.median(x[k] for x in rs) for k in ("full_build_s", "full_cpu_s", "open_s", "open_cpu_s")}
        out[side] = {**{f"median_{k}": round(v, 3) for k, v in med.items()},
                     "open_vs_full_ratio": round(med["open_s"] / med["full_build_s"], 3),
                     "open_vs_full_cpu_ratio": round(med["open_cpu_s"] / med["full_cpu_s"], 3)}
    out["open_s_ours_vs_baseline"] = round(out["ours"]["median_open_s"] / out["baseline"]["median_open_s"], 3)
    out["open_cpu_ours_vs_baseline"] = round(out["ours"]["median_open_cpu_s"] / out["baseline"]["median_open_cpu_s"], 3)
    out["same_classification"] = all(a["classification"] == b["classification"]
                                     for a, b in zip(runs["baseline"], runs["ours"], strict=True))
    return out


def _bytecode_cached() -> bool:
    """Whether dbt's modules have compiled bytecode next to them (pip compiles at install time;
    ``uv pip install`` only with ``--compile-bytecode``)."""
    import importlib.util

    spec = importlib.util.find_spec("dbt.cli.main")
    origin = Path(spec.origin) if spec and spec.origin else None
    return origin is not None and any((origin.parent / "__pycache__").glob("main.*.pyc"))


if __name__ == "__main__":
    main()
