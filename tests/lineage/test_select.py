"""The selection a classification leads to, the manifest completion, and the impact markdown
(pure functions over small hand-written manifests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from branchops.dbt.args import replace_selection
from branchops.lineage import ModelChange
from branchops.lineage.report import impact_markdown
from branchops.lineage.select import dependency_closure, fill_compiled_code, plan


def head() -> dict[str, Any]:
    def node(kind: str, name: str) -> dict[str, Any]:
        return {"resource_type": kind, "name": name, "schema": "analytics", "alias": name,
                "config": {"materialized": "table"}}
    nodes = {"model.p.a": node("model", "a"), "model.p.b": node("model", "b"), "model.p.c": node("model", "c"),
             "model.p.d": node("model", "d"), "seed.p.s": node("seed", "s"), "test.p.t": node("test", "t")}
    children = {"model.p.a": ["model.p.b"], "model.p.b": ["model.p.c"], "seed.p.s": ["model.p.d"],
                "model.p.c": [], "model.p.d": [], "test.p.t": []}
    return {"nodes": nodes, "child_map": children}


def change(uid: str, kind: Any) -> ModelChange:
    return ModelChange(uid, uid.rsplit(".", 1)[-1], None, kind, "")


def test_plan_and_what_it_builds() -> None:
    h = head()
    modified = ["model.p.a", "model.p.d", "seed.p.s", "test.p.t"]
    non = [change("model.p.a", "non-breaking"), change("model.p.d", "metadata-only")]
    assert plan(h, modified, non) == ["a", "s+", "t"]
    assert dependency_closure(h, modified) == {"model.p.a", "model.p.b", "model.p.c", "model.p.d", "seed.p.s",
                                               "test.p.t"}
    assert dependency_closure(h, modified, non) == {"model.p.a", "seed.p.s", "model.p.d", "test.p.t"}
    assert plan(h, ["model.p.a"], [change("model.p.a", "breaking")]) == ["a+"]
    assert plan(h, ["model.p.a"], []) == ["a+"]  # not classified: breaking


def test_replace_selection_keeps_other_flags() -> None:
    args = ["--vars", "{x: 1}", "--select", "state:modified+", "-s", "x", "--full-refresh", "--models=y"]
    assert replace_selection(args, ["a", "b+"]) == ["--vars", "{x: 1}", "--full-refresh", "--select", "a", "b+"]
    assert replace_selection(["--select", "x"], []) == []


def test_fill_compiled_code_only_for_the_same_code(tmp_path: Path) -> None:
    def model(checksum: str, sql: str | None) -> dict[str, Any]:
        return {"resource_type": "model", "checksum": {"sha256": checksum}, "config": {}, "compiled_code": sql}
    built = {"nodes": {"model.p.a": model("1", "select 1"), "model.p.b": model("2", None),
                       "model.p.c": model("3", None)}}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(built))
    compiled = {"nodes": {"model.p.b": model("2", "select 2")}}
    base = {"nodes": {"model.p.b": model("2", "select old"), "model.p.c": model("other", "select 3")}}
    fill_compiled_code(path, [compiled, base])
    nodes = json.loads(path.read_text())["nodes"]
    got = [nodes[u]["compiled_code"] for u in ("model.p.a", "model.p.b", "model.p.c")]
    assert got == ["select 1", "select 2", None]


def test_impact_markdown() -> None:
    assert impact_markdown(None) is None
    lineage = {
        "models": [{"unique_id": "model.p.a", "model": "a", "table": "analytics.a", "kind": "non-breaking",
                    "reason": "new columns x", "added": ["x"], "removed": [], "changed": [], "rows_changed": False,
                    "readers": [], "downstream": ["model.p.b"],
                    "exposures": [{"unique_id": "exposure.p.e", "name": "Sales", "type": "exposure",
                                   "url": "https://bi.example.com/sales"}]}],
        "kept_from_base": ["analytics.b"], "kept_models": ["model.p.b"], "fallback": None,
    }
    text = impact_markdown(lineage)
    assert text is not None
    assert "| `analytics.a` | 🟢 non-breaking | +x | new columns x |" in text
    assert "- model `b`: reads none of the changed columns; kept from the base (zero-copy, not rebuilt)" in text
    assert "[Sales](https://bi.example.com/sales): not affected" in text
    assert "zero-copy** (downstream of non-breaking changes only): `analytics.b`" in text
    fallback = impact_markdown({"models": [], "fallback": "dbt compile failed: boom"})
    assert fallback is not None and "dbt compile failed: boom" in fallback
