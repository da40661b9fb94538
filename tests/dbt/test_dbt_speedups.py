"""branchops.dbt.speedups: dbt reports exactly what it reported before, for less."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from dbt_common.behavior_flags import Behavior, BehaviorFlagRendered
from dbt_common.dataclass_schema import ValidationError

from branchops.dbt import DbtRunResult, find_build, speedups
from branchops.dbt.artifacts import read_artifact
from branchops.lakehouse import Lakehouse


def _dbts_walk(skip: str) -> str:
    """dbt-common's own ``_default_source`` (1.x), the reference, skipping ``skip``'s frames."""
    for frame in inspect.stack():
        if (module := inspect.getmodule(frame[0])) and module.__name__ != skip:
            return module.__name__
    return "Unknown"


def test_flag_source_names_the_same_module_as_dbts_stack_walk() -> None:
    # from here outward the first module that is not this one is pytest's: both must find it
    expected = _dbts_walk(skip=__name__)
    assert expected not in (__name__, "Unknown")
    assert speedups.flag_source(sys._getframe(0), skip=__name__) == expected


def test_flag_source_skips_code_compiled_from_a_string() -> None:
    frame_globals = {"__name__": "not_a_module", "f": speedups.flag_source, "sys": sys}
    exec(compile("result = f(sys._getframe(0))", "<string>", "exec"), frame_globals)
    assert frame_globals["result"] == __name__
    assert speedups.flag_source(None) == "Unknown"


def test_installed_flags_name_the_module_that_declared_them() -> None:
    speedups.install()
    speedups.install()  # idempotent
    flags = Behavior([{"name": "some_flag", "default": False, "description": "a flag"}], {})
    rendered: BehaviorFlagRendered = flags.some_flag
    assert rendered._behavior_change_event.flag_source == __name__
    assert rendered.no_warn is False


def _class(key: str) -> type:
    module, qualname = key.split(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def test_a_build_stores_the_schemas_dbt_builds_exactly(main_build: tuple[Lakehouse, DbtRunResult]) -> None:
    lh, _ = main_build
    stored = find_build(lh.catalog, "main")
    assert stored is not None and stored.schemas
    data = json.loads(read_artifact(lh.catalog, stored.schemas))
    assert {"dbt-core", "dbt-common", "dbt-duckdb", "mashumaro"} <= set(data["versions"])
    assert {"dbt.contracts.project:Project", "dbt.adapters.duckdb.credentials:DuckDBCredentials"} \
        <= set(data["schemas"])
    assert set(speedups.PR_SCHEMAS) <= set(data["schemas"])  # what a PR's parse of a changed model needs
    for key, schema in data["schemas"].items():  # through JSON and back: what dbt itself builds
        assert schema == speedups._original_json_schema(_class(key)), key


@pytest.fixture
def fresh_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    speedups.install()
    monkeypatch.setattr(speedups, "_built", {})
    monkeypatch.setattr(speedups, "_stored", {})
    monkeypatch.setattr(speedups, "_stored_versions", None)


KEY = "dbt.contracts.project:ProjectFlags"


def _stored_file(versions: dict[str, str]) -> bytes:
    return json.dumps({"versions": versions, "schemas": {KEY: {"marker": True}}}).encode()


@pytest.mark.usefixtures("fresh_schemas")
def test_stored_schemas_of_the_installed_versions_are_used() -> None:
    from dbt.contracts.project import ProjectFlags

    speedups.preload_schemas(_stored_file(speedups._versions(speedups.SCHEMA_DISTRIBUTIONS)))
    assert ProjectFlags.json_schema() == {"marker": True}


@pytest.mark.usefixtures("fresh_schemas")
@pytest.mark.parametrize("data", [
    _stored_file({"dbt-core": "0.0.1"}),  # another dbt
    b"not json", b'{"versions": {}}', b"[]",
])
def test_stored_schemas_of_other_versions_or_unreadable_are_not_used(data: bytes) -> None:
    from dbt.contracts.project import ProjectFlags

    speedups.preload_schemas(data)
    schema = ProjectFlags.json_schema()
    assert schema == speedups._original_json_schema(ProjectFlags) and "marker" not in schema
    with pytest.raises(ValidationError):  # and dbt still validates with it
        ProjectFlags.validate({"send_anonymous_usage_stats": "not a boolean"})


def test_plugin_modules_are_the_ones_dbt_finds_and_found_again_when_sys_path_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dbt.plugins.manager import PluginManager

    speedups.install()
    found = PluginManager.get_prefixed_modules()
    assert found == speedups._original_prefixed_modules(PluginManager)  # dbt's own answer
    assert "dbt_common" in found
    calls: list[int] = []
    original = speedups._original_prefixed_modules
    monkeypatch.setattr(speedups, "_original_prefixed_modules", lambda cls: calls.append(1) or original(cls))
    assert PluginManager.get_prefixed_modules() == found and calls == []  # kept: no second listing
    (tmp_path / "dbt_branchops_test_plugin.py").write_text("plugins = []\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # a folder more on sys.path: listed again
    again = PluginManager.get_prefixed_modules()
    assert calls == [1] and set(again) == set(found) | {"dbt_branchops_test_plugin"}
    sys.modules.pop("dbt_branchops_test_plugin", None)


def test_a_dbt_shaped_otherwise_runs_without_the_speedups(monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed-ups replace private parts of dbt: where those are missing (another dbt release)
    ``install`` leaves dbt as it is and says so, instead of failing every dbt run."""
    import types

    assert speedups.install() is True  # this dbt has them (idempotent)
    monkeypatch.setitem(sys.modules, "dbt_common.dataclass_schema", types.ModuleType("dbt_common.dataclass_schema"))
    assert speedups.install() is False
    monkeypatch.setitem(sys.modules, "dbt_common.behavior_flags", types.ModuleType("dbt_common.behavior_flags"))
    assert speedups.install() is False


def test_adapter_classes_are_keyed_on_the_distribution_that_holds_them() -> None:
    owners = speedups._adapter_owners()  # read from the installed distributions' file lists
    assert owners["duckdb"] == "dbt-duckdb" and owners["base"] == "dbt-adapters"
    assert owners["factory"] == "dbt-adapters"  # a module file, not a package
    # the two-read lookup a build makes agrees with the scan of every dbt distribution
    assert speedups._owners([*owners, "nosuchadapter"]) == owners


@pytest.mark.usefixtures("fresh_schemas")
def test_a_class_of_an_adapter_no_distribution_holds_is_not_stored(tmp_path: Any) -> None:
    unknown = "dbt.adapters.nosuchadapter.credentials:Credentials"
    speedups._built.update({
        unknown: {"marker": 1},
        "dbt.adapters.duckdb.credentials:DuckDBCredentials": {"marker": 2},
        "dbt.adapters.contracts.connection:Credentials": {"marker": 3},
        KEY: {"marker": 4},
    })
    assert speedups.write_schemas(tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    assert unknown not in data["schemas"]  # unversioned: built anew by each process instead
    assert {"dbt.adapters.duckdb.credentials:DuckDBCredentials", "dbt.adapters.contracts.connection:Credentials",
            KEY} <= set(data["schemas"])
    assert {"dbt-duckdb", "dbt-adapters", "dbt-core"} <= set(data["versions"])
    assert not any("nosuchadapter" in name for name in data["versions"])


def _state_folder(lh: Lakehouse, folder: Path) -> Path:
    stored = find_build(lh.catalog, "main")
    assert stored is not None
    folder.mkdir()
    (folder / "manifest.json").write_bytes(read_artifact(lh.catalog, stored.manifest))
    return folder


def test_a_previous_state_is_read_once_per_content_of_its_folder(
        main_build: tuple[Lakehouse, DbtRunResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dbt.contracts.state import PreviousState

    speedups.install()
    monkeypatch.setattr(speedups, "_states", {})
    state = _state_folder(main_build[0], tmp_path / "state")
    reads: list[int] = []
    original = speedups._original_state_init
    monkeypatch.setattr(speedups, "_original_state_init", lambda *a: reads.append(1) or original(*a))
    first = PreviousState(state, tmp_path / "target", tmp_path)
    second = PreviousState(state, tmp_path / "target", tmp_path)
    assert len(reads) == 1 and second.manifest is first.manifest  # the second invocation's is the first's
    reference = PreviousState.__new__(PreviousState)
    original(reference, state, tmp_path / "target", tmp_path)  # dbt's own reading
    assert first.manifest is not None and reference.manifest is not None
    assert first.manifest.nodes.keys() == reference.manifest.nodes.keys()
    assert {u: n.checksum.to_dict() for u, n in first.manifest.nodes.items()} == \
        {u: n.checksum.to_dict() for u, n in reference.manifest.nodes.items()}

    manifest = json.loads((state / "manifest.json").read_text())
    uid = next(u for u, n in manifest["nodes"].items() if n["resource_type"] == "model")
    manifest["nodes"][uid]["checksum"]["checksum"] = "0" * 64  # another base: read again
    (state / "manifest.json").write_text(json.dumps(manifest))
    third = PreviousState(state, tmp_path / "target", tmp_path)
    assert len(reads) == 2 and third.manifest is not None
    assert third.manifest.nodes[uid].checksum.checksum == "0" * 64


def test_a_state_folder_rewritten_within_one_mtime_tick_is_read_again(
        main_build: tuple[Lakehouse, DbtRunResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest rewritten in place with content of the same size keeps its size and inode; its
    modification time too when both writes fall in one tick of the file system's clock (coarse
    timestamps, 1-2 s on some) or it is restored (``cp -p``, ``tar``, ``rsync -t``): a changed
    base must still be read, not the previous one's."""
    from dbt.contracts.state import PreviousState

    speedups.install()
    monkeypatch.setattr(speedups, "_states", {})
    state = _state_folder(main_build[0], tmp_path / "state")
    first = PreviousState(state, tmp_path / "target", tmp_path)
    path = state / "manifest.json"
    before = path.stat()
    manifest = json.loads(path.read_text())
    uid = next(u for u, n in manifest["nodes"].items() if n["resource_type"] == "model")
    old = manifest["nodes"][uid]["checksum"]["checksum"]
    new = "1" * len(old)
    assert first.manifest is not None and first.manifest.nodes[uid].checksum.checksum == old != new
    manifest["nodes"][uid]["checksum"]["checksum"] = new
    text = json.dumps(manifest)
    path.write_text(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same tick
    after = path.stat()
    assert (after.st_size, after.st_ino, after.st_mtime_ns) == (before.st_size, before.st_ino, before.st_mtime_ns)
    second = PreviousState(state, tmp_path / "target", tmp_path)
    assert second.manifest is not None
    assert second.manifest.nodes[uid].checksum.checksum == new
