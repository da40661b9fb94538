"""What a PR build selects once its changes are classified: breaking changes rebuild the model
and everything downstream (``state:modified+``); a non-breaking change rebuilds only the model,
and its downstream keeps the base's tables (zero-copy); a metadata-only change rebuilds nothing.

:class:`LineageSelection` plugs into ``branchops.dbt.run_dbt`` (``refine=``): after dbt parsed
the project it lists ``state:modified`` against the base's stored manifest, compiles
``state:modified+`` (models whose Jinja is only ``ref``/``source``/``config`` are rendered
without dbt: ``lineage/quick.py``), classifies, and replaces the selection. It also fills the compiled SQL of
every model into the manifest the build stores, so the next PR finds the base's SQL there.
When anything on the way fails it leaves ``state:modified+`` in place and says why.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from branchops.dbt import args as dbt_args
from branchops.dbt.results import model_tables
from branchops.lineage.classify import READER_TYPES, Classifier, ModelChange, descendants
from branchops.lineage.quick import compiled_head, with_relations

if TYPE_CHECKING:
    from branchops.dbt.invocation import Invocation

#: modified nodes that are not models: rebuilt with their downstream, or run on their own
REBUILD_DOWNSTREAM = frozenset({"seed", "snapshot"})
RUN_ALONE = frozenset({"test", "unit_test"})


class LineageSelection:
    """A ``refine`` hook for one dbt build; read its results after the build."""

    def __init__(self, dialect: str = "duckdb") -> None:
        self.dialect = dialect
        self.changes: list[ModelChange] = []
        self.selection: list[str] | None = None  # what dbt was asked to build instead
        self.kept: list[str] = []  # tables downstream of the changes that keep the base's data
        self.kept_models: list[str] = []  # their models' unique ids
        self.fallback: str | None = None  # why state:modified+ was built as is
        self.seconds = 0.0  # compiling, listing and classifying
        self.compiled_by: str | None = None  # "dbt" (a compile invocation) or "branchops" (lineage/quick.py)

    def __call__(self, inv: Invocation, manifest_obj: Any, manifest: Mapping[str, Any]) -> None:
        if not inv.state_args:
            return  # nothing to compare against: everything is built
        started = time.perf_counter()
        try:
            self._classify(inv, manifest_obj, manifest)
        finally:
            self.seconds = time.perf_counter() - started

    def _classify(self, inv: Invocation, manifest_obj: Any, parsed: Mapping[str, Any]) -> None:
        from branchops.dbt.invocation import failure_text, invoke

        base = json.loads((inv.work / "state" / "manifest.json").read_text())
        listed = invoke(["ls", "--log-level", "none", *inv.common, *inv.state_args, "--output", "json",
                          "--output-keys", "unique_id", "--select", "state:modified"], manifest=manifest_obj,
                         keep_open=True)
        if not listed.success or not isinstance(listed.result, list):
            self.fallback = "dbt ls of state:modified failed"
            return
        modified = sorted(json.loads(line)["unique_id"] for line in listed.result)
        # models whose Jinja is only ref/source/config: their SQL without a dbt compile (lineage/quick.py)
        head = compiled_head(parsed, base, modified, READER_TYPES, with_relations(parsed, manifest_obj))
        self.compiled_by = "branchops" if head is not None else "dbt"
        if head is None:
            # compiling marks the nodes of the manifest object compiled: the build must get a pristine one
            # the compile's database (every branch table a view) stays open: the build reuses it
            compiled = _pristine(manifest_obj)
            # no manifest.json: the compiled nodes are read from the object (writing and reading back
            # the whole manifest cost more than compiling the one changed model)
            res = invoke(["compile", "--quiet", "--no-write-json", *inv.common, *inv.state_args,
                          "--select", "state:modified+"], manifest=compiled, keep_open=True)
            if not res.success:
                self.fallback = f"dbt compile failed: {failure_text(res) or 'see the dbt log'}"
                return
            head = with_compiled_nodes(parsed, compiled)
        compiled_manifest = head
        inv.on_manifest = lambda path: fill_compiled_code(path, [compiled_manifest, base])
        before = dependency_closure(head, modified)
        self.changes = Classifier(base, head, self.dialect).classify(modified)
        self.selection = plan(head, modified, self.changes)
        after = dependency_closure(head, modified, self.changes)
        tables = model_tables(head)
        self.kept_models = sorted(u for u in before - after if u in tables)
        self.kept = sorted(tables[u] for u in self.kept_models)
        inv.user_args = dbt_args.replace_selection(inv.user_args, self.selection or ["state:modified+"])
        if not self.selection:  # only metadata changed: build nothing (an empty --select would build all)
            inv.user_args += ["--exclude", "state:modified+"]

    def to_dict(self) -> dict[str, Any]:
        return {"models": [c.to_dict() for c in self.changes], "selection": self.selection,
                "kept_from_base": self.kept, "kept_models": self.kept_models, "fallback": self.fallback,
                "compiled_by": self.compiled_by, "seconds": round(self.seconds, 3)}


def plan(head: Mapping[str, Any], modified: Sequence[str], changes: Sequence[ModelChange]) -> list[str]:
    """dbt selectors: ``name+`` for breaking changes (and seeds, snapshots, sources), ``name``
    for non-breaking ones and modified tests; metadata-only changes select nothing."""
    kinds = {c.unique_id: c.kind for c in changes}
    nodes: Mapping[str, Any] = head.get("nodes", {})
    out: list[str] = []
    for uid in modified:
        node = nodes.get(uid) or {}
        rtype = node.get("resource_type") or uid.split(".", 1)[0]
        if rtype == "model":
            kind = kinds.get(uid, "breaking")
            if kind != "metadata-only":
                out.append(f"{node['name']}+" if kind == "breaking" else str(node["name"]))
        elif rtype in REBUILD_DOWNSTREAM:
            out.append(f"{node['name']}+")
        elif rtype in RUN_ALONE:
            out.append(str(node["name"]))
        elif rtype == "source":
            src = head.get("sources", {}).get(uid, {})
            out.append(f"source:{src.get('source_name')}.{src.get('name')}+")
    return out


def dependency_closure(head: Mapping[str, Any], modified: Sequence[str], changes: Sequence[ModelChange] | None = None
             ) -> set[str]:
    """What a selection builds: every modified node and its downstream (``changes``: only what
    :func:`plan` rebuilds downstream of)."""
    kinds = {c.unique_id: c.kind for c in changes or ()}
    out: set[str] = set()
    for uid in modified:
        kind = kinds.get(uid, "breaking")
        if kind == "metadata-only":
            continue
        out.add(uid)
        if kind == "breaking":
            out.update(descendants(head, uid))
    return out


def fill_compiled_code(path: Path, sources: Sequence[Mapping[str, Any]]) -> None:
    """Give every SQL model in the manifest at ``path`` its compiled SQL: from ``sources`` (this
    run's compile, the base's manifest) for the models this build did not run, when their code
    and config are what was compiled there (same checksum)."""
    manifest = json.loads(path.read_text())
    changed = False
    for uid, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") != "model" or node.get("compiled_code"):
            continue
        for source in sources:
            other = source.get("nodes", {}).get(uid) or {}
            if other.get("compiled_code") and other.get("checksum") == node.get("checksum") \
                    and other.get("config") == node.get("config"):
                node["compiled_code"], node["compiled"] = other["compiled_code"], True
                changed = True
                break
    if changed:
        path.write_text(json.dumps(manifest))


def with_compiled_nodes(parsed: Mapping[str, Any], compiled: Any) -> dict[str, Any]:
    """The manifest a compile would write: ``parsed`` (the parse's ``manifest.json``) with every
    node the compile marked compiled in the manifest object ``compiled`` as dbt writes it."""
    from dbt_common.utils.encoding import JSONEncoder  # what dbt writes its artifacts with

    nodes = dict(parsed.get("nodes", {}))
    for uid, node in compiled.nodes.items():
        if getattr(node, "compiled", False):
            resource = node.to_resource() if hasattr(node, "to_resource") else node
            data = resource.to_dict(omit_none=False, context={"artifact": True})
            nodes[uid] = json.loads(json.dumps(data, cls=JSONEncoder))
    return {**parsed, "nodes": nodes}


def _pristine(manifest_obj: Any) -> Any:
    """A copy of dbt's parsed manifest that a compile may mark compiled (dbt's own deep copy
    rebuilds its lookups; ``copy.deepcopy`` leaves them pointing at the original)."""
    return manifest_obj.deepcopy() if hasattr(manifest_obj, "deepcopy") else copy.deepcopy(manifest_obj)
