"""What one dbt invocation on a branch did, read from dbt's own ``manifest.json`` and
``run_results.json``: nodes and their status, tables published and reused, tests, exposures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from branchops.errors import DbtFailed

#: resource types whose successful nodes become tables on the branch
PUBLISHED_TYPES = frozenset({"model", "seed", "snapshot"})
#: statuses that make an invocation fail (a test with severity warn reports "warn")
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    name: str
    resource_type: str
    status: str
    message: str | None = None
    table: str | None = None  # "<schema>.<alias>" for models, seeds and snapshots
    materialization: str | None = None
    execution_time: float = 0.0
    failures: int | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "unique_id": self.unique_id, "name": self.name, "resource_type": self.resource_type,
            "status": self.status, "message": self.message, "table": self.table,
            "materialization": self.materialization, "execution_time": round(self.execution_time, 3),
            "failures": self.failures,
        }


@dataclass(frozen=True)
class ExposureInfo:
    """A dbt exposure (a dashboard, an app) and whether this run rebuilt anything upstream of it."""

    name: str
    label: str | None
    type: str | None
    url: str | None
    depends_on: tuple[str, ...]  # model names it names directly
    affected: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "type": self.type, "url": self.url,
                "depends_on": list(self.depends_on), "affected": self.affected}


@dataclass
class DbtRunResult:
    """One ``branchops dbt <command>`` invocation on a branch."""

    command: str
    branch: str
    project: str
    success: bool
    invocation_id: str | None = None
    base: str | None = None  # ref whose stored manifest was the --state
    state_commit: str | None = None
    hash: str | None = None  # the branch's commit that published the outputs (None: nothing)
    published: dict[str, str] = field(default_factory=dict)  # table -> metadata location
    reused: list[str] = field(default_factory=list)  # model tables kept as they were on the branch
    nodes: list[NodeResult] = field(default_factory=list)
    exposures: list[ExposureInfo] = field(default_factory=list)
    manifest: str | None = None
    run_results: str | None = None
    listed: list[str] = field(default_factory=list)  # `dbt ls` output
    timings: dict[str, float] = field(default_factory=dict)
    #: how dbt parsed the project: "partial: <what changed>" or "full: <why>" (invocation.parse_mode)
    parse: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # what branchops decided for the user, in words

    @property
    def built(self) -> list[str]:
        return sorted(self.published)

    @property
    def failures(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.failed]

    def tests(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "warn": 0, "error": 0, "skipped": 0}
        for n in self.nodes:
            if n.resource_type in ("test", "unit_test"):
                key = "skipped" if n.status == "skipped" else n.status
                counts[key] = counts.get(key, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command, "branch": self.branch, "project": self.project, "success": self.success,
            "invocation_id": self.invocation_id, "base": self.base, "state_commit": self.state_commit,
            "hash": self.hash, "built": self.built, "published": dict(sorted(self.published.items())),
            "reused": sorted(self.reused), "tests": self.tests(),
            "failures": [n.to_dict() for n in self.failures], "nodes": [n.to_dict() for n in self.nodes],
            "exposures": [e.to_dict() for e in self.exposures], "manifest": self.manifest,
            "run_results": self.run_results, "listed": self.listed,
            "timings": {k: round(v, 3) for k, v in self.timings.items()}, "parse": self.parse, "error": self.error,
            "notes": list(self.notes),
        }


class DbtRunFailed(DbtFailed):
    """A dbt model, seed or error-severity test failed, or dbt itself stopped: nothing published."""

    def __init__(self, result: DbtRunResult, **kw: Any) -> None:
        names = [f"{n.name} ({n.status}{': ' + n.message if n.message else ''})" for n in result.failures]
        what = "; ".join(names) or (result.error or "dbt reported a failure")
        kw.setdefault("unchanged", f"nothing was published: {result.branch} is as it was")
        kw.setdefault("hint", "fix the failures dbt printed above and run again")
        super().__init__(f"dbt {result.command} failed on {result.branch}: {what}", **kw)
        self.result = result

    def details(self) -> dict[str, Any]:
        return {"failures": [n.to_dict() for n in self.result.failures], "result": self.result.to_dict()}


def table_of(node: Mapping[str, Any]) -> str:
    # a static Trino catalog names the branch in the schema ("analytics@pr-42"): not part of the table
    return f"{node['schema'].partition('@')[0]}.{node.get('alias') or node['name']}"


def node_results(manifest: Mapping[str, Any], run_results: Mapping[str, Any] | None) -> list[NodeResult]:
    nodes = manifest.get("nodes", {})
    out: list[NodeResult] = []
    for r in (run_results or {}).get("results", []):
        uid = r["unique_id"]
        node = nodes.get(uid, {})
        rtype = node.get("resource_type", uid.split(".")[0])
        materialized = node.get("config", {}).get("materialized")
        out.append(NodeResult(
            unique_id=uid, name=node.get("name", uid.split(".")[-1]), resource_type=rtype,
            status=str(r.get("status")), message=r.get("message"),
            table=table_of(node) if rtype in PUBLISHED_TYPES and node else None,
            materialization=materialized, execution_time=float(r.get("execution_time") or 0.0),
            failures=r.get("failures"),
        ))
    return out


def publishable(nodes: Iterable[NodeResult]) -> list[NodeResult]:
    """Nodes whose output lands on the branch: built models (not ephemeral), seeds, snapshots."""
    return [n for n in nodes if n.resource_type in PUBLISHED_TYPES and n.status == "success"
            and n.materialization != "ephemeral" and n.table]


def model_tables(manifest: Mapping[str, Any]) -> dict[str, str]:
    """``unique_id -> table`` of every node that materializes a table."""
    return {uid: table_of(n) for uid, n in manifest.get("nodes", {}).items()
            if n.get("resource_type") in PUBLISHED_TYPES and n.get("config", {}).get("materialized") != "ephemeral"}


def exposures(manifest: Mapping[str, Any], built: set[str]) -> list[ExposureInfo]:
    """Exposures, each marked ``affected`` when a node built in this run is upstream of it."""
    parents: Mapping[str, list[str]] = manifest.get("parent_map", {})
    nodes = manifest.get("nodes", {})
    out = []
    for uid, exp in sorted(manifest.get("exposures", {}).items()):
        seen: set[str] = set()
        stack = list(parents.get(uid, exp.get("depends_on", {}).get("nodes", [])))
        while stack:
            cur = stack.pop()
            if cur not in seen:
                seen.add(cur)
                stack.extend(parents.get(cur, []))
        direct = exp.get("depends_on", {}).get("nodes", [])
        out.append(ExposureInfo(
            name=exp["name"], label=exp.get("label"), type=exp.get("type"), url=exp.get("url"),
            depends_on=tuple(nodes.get(d, {}).get("name", d) for d in direct), affected=bool(seen & built),
        ))
    return out
