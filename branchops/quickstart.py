"""``branchops quickstart``: the whole story on the sample dbt project, in a fresh folder.

init -> raw data on main -> production dbt build of main -> a pull request changes one model
-> ``pr open``: fork, build only what changed, diff, report -> ``pr merge`` -> main has the
change. Every step is the same library call the CLI commands make.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from branchops.config import load_settings
from branchops.errors import ConfigError
from branchops.lakehouse import Lakehouse
from branchops.project_init import init_project

Say = Callable[[str], None]

#: the sample dbt project, shipped as package data (in a checkout, a link to ../dbt_project)
SAMPLE_PROJECT = Path(__file__).resolve().parent / "sample_project"
#: the PR of the story: gold customers from a lifetime value of 800 instead of 1,000
CHANGED_MODEL = Path("models/marts/customer_segments.sql")
CHANGE = ("when lifetime_value >= 1000 then 'gold'", "when lifetime_value >= 800 then 'gold'")
SEGMENT_SQL = "select segment, count(*) as customers from {rel} group by segment order by segment"


@dataclass
class QuickstartResult:
    directory: str
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": self.directory, "steps": self.steps}


def _copy_project(dest: Path) -> Path:
    if not (SAMPLE_PROJECT / "dbt_project.yml").is_file():
        raise ConfigError(
            f"the sample dbt project is not at {SAMPLE_PROJECT}",
            unchanged="nothing was written",
            hint="reinstall branchops (`pip install --force-reinstall branchops`): its package data is incomplete",
        )
    shutil.copytree(SAMPLE_PROJECT, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return dest


def _segments(lh: Lakehouse, ref: str) -> dict[str, int]:
    from branchops.engine.duckdb import DuckDBEngine

    with DuckDBEngine(lh.catalog) as engine:
        rows = engine.query(SEGMENT_SQL.format(rel=engine.relation(ref, "analytics.customer_segments")))
    return {str(seg): int(n) for seg, n in rows}


def run_quickstart(directory: Path | None, say: Say, *, scale: float = 0.01) -> QuickstartResult:
    from branchops.dbt import build
    from branchops.demo import load_demo_data
    from branchops.pr import PullRequests, Reporter

    folder = directory or Path(tempfile.mkdtemp(prefix="branchops-quickstart-"))
    result = QuickstartResult(str(folder.resolve()))

    def step(step_name: str, **data: Any) -> None:
        result.steps.append({"step": step_name, **data})

    init = init_project(folder)
    say(f"1. Initialized a lakehouse in {folder} (SQLite catalog + local Iceberg warehouse)")
    step("init", **init)
    with Lakehouse(load_settings(Path(init["config"]))) as lh:
        raw = load_demo_data(lh, scale)
        say(f"2. Loaded raw data on main in one commit: {raw.get('rows', raw)}")
        step("raw_data", **raw)

        prod = _copy_project(folder / "dbt_project")
        built = build(lh, lh.main, prod, dbt_output="stderr")
        say(f"3. Production dbt build of main (write-audit-publish): {len(built.built)} models published "
            f"in commit {(built.hash or '')[:12]}")
        step("production_build", models=sorted(built.built), hash=built.hash)
        before = _segments(lh, lh.main)
        say(f"   customer segments on main: {before}")

        pr_project = _copy_project(folder / "pr_project")
        model = pr_project / CHANGED_MODEL
        model.write_text(model.read_text().replace(*CHANGE))
        say(f"4. A pull request changes {CHANGED_MODEL}: gold customers from 800 instead of 1,000")

        prs = PullRequests(lh, Reporter(None, echo=lambda md: say("\n--- PR report (sticky comment) ---\n" + md)))
        opened = prs.sync(1, "quickstart-sha-1", pr_project)
        say(f"5. pr open: branch {opened.branch} forked from main, built, diffed -> {opened.status.value}; "
            f"changed tables: {', '.join(opened.changed_tables) or 'none'}")
        step("pr_open", **opened.to_dict())
        on_branch = _segments(lh, opened.branch)

        merged = prs.merge(1, "quickstart-sha-1")
        after = _segments(lh, lh.main)
        say(f"6. pr merge: {merged.status.value}; main's customer segments are now {after}")
        step("pr_merge", **merged.to_dict(), segments_before=before, segments_on_branch=on_branch,
             segments_after=after)
    say(f"Done. Explore it: cd {folder} && branchops branch log main")
    return result
