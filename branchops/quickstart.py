"""``branchops quickstart``: the whole story on generated data, in a fresh folder.

init -> ingest raw data on main -> fork a branch -> change it on the branch -> show what differs
-> merge into main -> main now has the change. Every step uses the same library calls the CLI
commands do.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from branchops.config import load_settings
from branchops.lakehouse import Lakehouse
from branchops.setup import init_project

Say = Callable[[str], None]


@dataclass
class QuickstartResult:
    directory: str
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": self.directory, "steps": self.steps}


def demo_orders(n: int, seed: int = 7) -> pa.Table:
    rng = random.Random(seed)
    return pa.table(
        {
            "order_id": list(range(1, n + 1)),
            "customer_id": [rng.randint(1, max(1, n // 10)) for _ in range(n)],
            "amount": [round(rng.uniform(5, 500), 2) for _ in range(n)],
            "status": [rng.choice(["placed", "shipped", "completed", "returned"]) for _ in range(n)],
        }
    )


def run_quickstart(directory: Path | None, say: Say, *, rows: int = 1000) -> QuickstartResult:
    folder = directory or Path(tempfile.mkdtemp(prefix="branchops-quickstart-"))
    result = QuickstartResult(str(folder.resolve()))

    def step(step_name: str, **data: Any) -> None:
        result.steps.append({"step": step_name, **data})

    init = init_project(folder)
    say(f"1. Initialized a lakehouse in {folder} (SQLite catalog + local Iceberg warehouse)")
    step("init", **init)
    with Lakehouse(load_settings(Path(init["config"]))) as lh:
        orders = demo_orders(rows)
        r = lh.ingest("raw.orders", orders)
        say(f"2. Ingested raw.orders on main: {r.rows} rows, commit {r.hash and r.hash[:12]}")
        step("ingest", **r.to_dict())

        feat = lh.catalog.create_branch("feat", lh.main)
        same = lh.catalog.tables("feat") == lh.catalog.tables(lh.main)
        say(f"3. Forked branch feat off main (zero-copy: same table pointers = {same})")
        step("branch", name=feat.name, hash=feat.hash, zero_copy=same)

        returned = orders.filter(pa.compute.equal(orders["status"], "returned"))
        fixed = orders.set_column(
            orders.schema.get_field_index("amount"),
            "amount",
            pa.compute.if_else(pa.compute.equal(orders["status"], "returned"), 0.0, orders["amount"]),
        )
        w = lh.ingest("raw.orders", fixed, branch="feat", mode="overwrite")
        say(f"4. On feat: zeroed the amount of {returned.num_rows} returned orders (main is untouched)")
        step("change", **w.to_dict())

        changes = lh.catalog.diff(lh.main, "feat")
        main_sum = sum(v or 0 for v in lh.read("raw.orders")["amount"].to_pylist())
        feat_sum = sum(v or 0 for v in lh.read("raw.orders", "feat")["amount"].to_pylist())
        say(
            f"5. main vs feat: {', '.join(f'{c.table} {c.kind.value}' for c in changes)}; "
            f"revenue {main_sum:,.2f} on main vs {feat_sum:,.2f} on feat"
        )
        step("diff", tables=[c.to_dict() for c in changes], main_amount=main_sum, feat_amount=feat_sum)

        merged = lh.catalog.merge("feat", lh.main, author=lh.settings.author_name)
        after = sum(v or 0 for v in lh.read("raw.orders")["amount"].to_pylist())
        say(
            f"6. Merged feat into main ({'fast-forward' if merged.fast_forward else 'merge commit'}): "
            f"main's revenue is now {after:,.2f}"
        )
        step("merge", **merged.to_dict(), main_amount_after=after)
        lh.catalog.drop_branch("feat")
    say(f"Done. Explore it: cd {folder} && branchops branch log main")
    return result
