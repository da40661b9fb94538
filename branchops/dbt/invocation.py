"""The core both dbt engines share: one invocation's state, calling dbt in-process, and reading
what dbt reported.

``branchops.dbt.runner`` (DuckDB: build in a scratch database, publish afterwards) and
``branchops.dbt.trino`` (dbt-trino writes into a write-audit-publish fork) both run dbt through
:func:`invoke` with the arguments an :class:`Invocation` holds, and fill the result with
:func:`record_outcome`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from branchops import progress
from branchops.dbt import args as dbt_args
from branchops.dbt import speedups
from branchops.dbt.artifacts import (
    NOT_LOOKED_UP,
    PARTIAL_PARSE_FILE,
    Lookup,
    StoredBuild,
    fetch,
    known_build,
    read_artifact,
    version_note,
)
from branchops.dbt.project import DbtProject
from branchops.dbt.results import DbtRunFailed, DbtRunResult, model_tables, node_results
from branchops.dbt.scratch import close_dbt_connections
from branchops.errors import UsageError

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult
    from dbt_common.events.base_types import EventMsg

    from branchops.lakehouse import Lakehouse

#: commands whose outputs are published to the branch
PUBLISHING = frozenset({"build", "run", "seed", "snapshot"})
#: materializations dbt updates in place: their branch tables are copied into the scratch database
IN_PLACE = frozenset({"incremental", "snapshot"})


@contextlib.contextmanager
def dbt_console(stream: Literal["stdout", "stderr"]) -> Iterator[None]:
    """dbt logs to stdout; ``--output json`` needs stdout for the JSON alone."""
    if stream == "stderr":
        with contextlib.redirect_stdout(sys.stderr):
            yield
    else:
        yield


def invoke(argv: list[str], manifest: Any = None, *, keep_open: bool = False,
           listen: Callable[[EventMsg], None] | None = None) -> dbtRunnerResult:
    with warnings.catch_warnings():
        # dbt-core 1.10 imports click's deprecated parser classes: third-party noise, not ours
        warnings.filterwarnings("ignore", r"'parser\.\w+' is deprecated", DeprecationWarning)
        from dbt.cli.main import dbtRunner
    speedups.install()

    sink = progress.current()  # dbt reports from its worker threads, where the context variable is unset
    callbacks: list[Callable[[EventMsg], None]] = [listen] if listen is not None else []
    if sink is not None:
        callbacks.append(functools.partial(_show_progress, sink))
    try:
        return dbtRunner(manifest=manifest, callbacks=callbacks or None).invoke(argv)
    finally:
        if not keep_open:  # else the caller publishes from dbt's database, then closes it
            close_dbt_connections()


def _show_progress(sink: progress.Sink, event: EventMsg) -> None:
    """dbt's "3 of 9 START sql table model main.orders" as a progress line."""
    if event.info.name == "LogStartLine":
        data = event.data
        sink(progress.line(int(data.index), int(data.total), f"dbt: {data.description}"))


def parse_mode(event: EventMsg) -> str | None:
    """How dbt parses, from its events: dbt falls back to a full parse silently (another dbt version,
    profile, vars or project config than the stored partial-parse state was made with)."""
    name = event.info.name
    if name == "PartialParsingSkipParsing":
        return "partial: nothing changed"
    if name == "PartialParsingEnabled":
        return "partial: " + str(getattr(event.info, "msg", "")).removeprefix("Partial parsing enabled: ").rstrip(".")
    if name == "UnableToPartialParse":
        return f"full: {getattr(event.data, 'reason', 'unknown')}"
    if name == "PartialParsingNotEnabled":
        return "full: partial parsing is off"
    return None


def failure_text(res: dbtRunnerResult) -> str | None:
    return None if res.exception is None else str(res.exception).strip()


class Invocation:
    """The state of one run: temp folder, dbt arguments, the base build for --state."""

    def __init__(self, lakehouse: Lakehouse, command: str, branch: str, project: DbtProject,
                 user_args: list[str], work: Path, threads: int) -> None:
        self.lh, self.command, self.branch, self.project = lakehouse, command, branch, project
        self.user_args, self.work, self.threads = user_args, work, threads
        self.spec = work / "scratch.json"
        self.target = work / "target"
        self.common = ["--project-dir", str(project.path), "--profiles-dir", str(work),
                       "--target-path", str(self.target), "--log-path", str(work / "logs")]
        if not dbt_args.has_flag(user_args, "--log-level-file"):
            self.common += ["--log-level-file", "none"]  # the log would be deleted with the temp folder
        if not dbt_args.has_flag(user_args, "--send-anonymous-usage-stats", "--no-send-anonymous-usage-stats") \
                and "DBT_SEND_ANONYMOUS_USAGE_STATS" not in os.environ:
            self.common.append("--no-send-anonymous-usage-stats")  # a CI step should not phone home
        self.state_args: list[str] = []
        #: called once dbt parsed the project; may replace ``user_args``' selection (see branchops.lineage)
        self.refine: Callable[[Invocation, Any, Mapping[str, Any]], None] | None = None
        #: called with the manifest a publishing run stores, before it is stored
        self.on_manifest: Callable[[Path], None] | None = None

    def use_state(self, base: str, result: DbtRunResult, stored: StoredBuild | Lookup | None = NOT_LOOKED_UP) -> None:
        if dbt_args.has_flag(self.user_args, "--state") or not dbt_args.uses_state(self.user_args):
            return
        stored = known_build(self.lh.catalog, base, stored)
        if stored is None:
            raise UsageError(
                f"no dbt build is recorded on {base}: there is no manifest to compare state:modified against",
                unchanged="nothing was built or written",
                hint=f"run `branchops dbt build --branch {base}` first, or select without state:",
            )
        state = fetch(self.lh.catalog, stored.manifest, self.work / "state" / "manifest.json")
        self.state_args = ["--state", str(self.work / "state")]
        result.base, result.state_commit = base, stored.commit
        note = version_note(state)
        if note:
            result.notes.append(note)

    @property
    def run_state_args(self) -> list[str]:
        """``--state`` for the run and its ``ls``: only while the selection compares against the base
        (a classified one names its nodes, and dbt would load the base's manifest once more for nothing)."""
        return self.state_args if dbt_args.uses_state(self.user_args) else []

    def seed_partial_parse(self, ref: str, stored: StoredBuild | Lookup | None = NOT_LOOKED_UP) -> None:
        """Start from the partial-parse state stored with ``ref``'s newest build: dbt then
        re-parses only the files that differ (it checks versions, vars, profile and project)."""
        stored = known_build(self.lh.catalog, ref, stored)
        if stored is not None and stored.schemas:  # and the JSON schemas dbt validates with
            with contextlib.suppress(OSError):
                speedups.preload_schemas(read_artifact(self.lh.catalog, stored.schemas))
        if stored is None or not stored.partial_parse or dbt_args.has_flag(self.user_args, "--no-partial-parse"):
            return
        with contextlib.suppress(OSError):  # a missing or unreadable state only costs a full parse
            fetch(self.lh.catalog, stored.partial_parse, self.target / PARTIAL_PARSE_FILE)

    def parse(self, result: DbtRunResult) -> tuple[Any, dict[str, Any]]:
        def listen(event: EventMsg) -> None:
            result.parse = parse_mode(event) or result.parse

        res = invoke(["parse", "--quiet", *self.common, *dbt_args.pick(self.user_args, dbt_args.PARSE_FLAGS)],
                     listen=listen)
        if not res.success:
            result.success, result.error = False, failure_text(res) or "dbt could not parse the project"
            raise DbtRunFailed(result)
        manifest_json = json.loads((self.target / "manifest.json").read_text())
        return res.result, manifest_json

    def in_place_tables(self, manifest_obj: Any, manifest: Mapping[str, Any], tables: Mapping[str, str]) -> set[str]:
        """Branch tables dbt must find as real tables: seeds (a seed refuses to load into a view;
        they are small) and the selected incremental models and snapshots (updated in place)."""
        if self.command not in PUBLISHING:
            return set()
        nodes, owned = manifest.get("nodes", {}), model_tables(manifest)
        seeds = {owned[uid] for uid, n in nodes.items() if n.get("resource_type") == "seed" and uid in owned}
        if dbt_args.has_flag(self.user_args, "--full-refresh", "-f"):
            return seeds & set(tables)
        candidates = {uid for uid, n in nodes.items()
                      if n.get("config", {}).get("materialized") in IN_PLACE and owned.get(uid) in tables}
        if not candidates:
            return seeds & set(tables)
        ls_args = ["ls", "--log-level", "none", *self.common, *self.run_state_args, "--output", "json",
                   "--output-keys", "unique_id", *dbt_args.pick(self.user_args, dbt_args.SELECTION_FLAGS)]
        res = invoke(ls_args, manifest=manifest_obj, keep_open=True)  # ls opens no database: keep a compile's
        listed = res.result if res.success and isinstance(res.result, list) else None
        selected = candidates if listed is None else {json.loads(line)["unique_id"] for line in listed}
        return (seeds | {owned[uid] for uid in candidates & selected}) & set(tables)


@contextlib.contextmanager
def scoped_env(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def record_outcome(inv: Invocation, res: dbtRunnerResult, result: DbtRunResult, manifest: Mapping[str, Any]) -> None:
    """Fill ``result`` from dbt's run results; raise DbtRunFailed unless every node passed."""
    run_results = read_json(inv.target / "run_results.json") if inv.command != "ls" else None
    result.invocation_id = (run_results or {}).get("metadata", {}).get("invocation_id")
    result.nodes = node_results(manifest, run_results)
    if inv.command == "ls":
        result.listed = [str(x) for x in res.result] if isinstance(res.result, list) else []
    if not res.success or result.failures:
        result.error = failure_text(res)
        raise DbtRunFailed(result)
    result.success = True


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None
