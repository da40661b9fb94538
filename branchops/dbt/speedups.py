"""Work dbt repeats in every invocation or process, done for less with the same answers.

- dbt names the module that declared each behavior flag of an adapter by walking
  ``inspect.stack()``: that reads a line of source for every frame of a ~100-frame stack, for
  each flag, at every invocation (a ``pr open`` makes four: parse, compile, ls, build). The walk
  below finds the same module from the frames' globals without reading any source.
- dbt builds the JSON schemas it validates with in every process: see :func:`preload_schemas`.
- dbt looks for plugin modules (top-level ``dbt_*`` modules) by listing every folder on
  ``sys.path`` at every invocation (~18 ms each): the answer is kept per ``sys.path``.
- dbt reads and upgrades the ``--state`` manifest in every invocation given one: see
  :func:`_previous_state_init`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any

_FLAGS_MODULE = "dbt_common.behavior_flags"


def flag_source(frame: FrameType | None, skip: str = _FLAGS_MODULE) -> str:
    """The first module on the stack from ``frame`` outward other than ``skip`` (dbt's
    behavior-flags module): what ``BehaviorFlagRendered._default_source`` reports (``"Unknown"``
    if none). Code compiled from a string (``<string>``) belongs to no module, as for ``inspect``."""
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if isinstance(name, str) and name != skip and not frame.f_code.co_filename.startswith("<"):
            return name
        frame = frame.f_back
    return "Unknown"


def _default_source() -> str:
    return flag_source(sys._getframe(1))


def install() -> bool:
    """Apply the speed-ups to dbt's classes (idempotent; dbt must be importable). Both replace
    private parts of dbt: a dbt whose classes are shaped otherwise runs without them (False)."""
    try:
        _install()
    except (ImportError, AttributeError, KeyError, TypeError):
        return False
    return True


def _install() -> None:
    global _original_json_schema
    from dbt_common.behavior_flags import BehaviorFlagRendered
    from dbt_common.dataclass_schema import dbtClassMixin

    if BehaviorFlagRendered.__dict__.get("_default_source") is not _installed:
        BehaviorFlagRendered._default_source = _installed  # type: ignore[method-assign]
    _install_plugin_modules()
    _install_previous_state()
    current = dbtClassMixin.__dict__["json_schema"]
    if current is not _installed_json_schema:
        _original_json_schema = current.__func__  # dbt's own (an lru_cache per class)
        dbtClassMixin.json_schema = _installed_json_schema  # type: ignore[method-assign,assignment]


_installed = staticmethod(_default_source)

# -- dbt's plugin modules --------------------------------------------------------------------------
_found_modules: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}  # (prefix, sys.path) -> modules
_original_prefixed_modules: Any = None


def _prefixed_modules(cls: Any) -> dict[str, Any]:
    """``PluginManager.get_prefixed_modules``: dbt's answer, once per ``sys.path``."""
    key = (str(cls.PLUGIN_MODULE_PREFIX), tuple(sys.path))
    found = _found_modules.get(key)
    if found is None:
        found = _found_modules[key] = _original_prefixed_modules(cls)
    return dict(found)


_installed_prefixed_modules: classmethod[Any, Any, Any] = classmethod(_prefixed_modules)


def _install_plugin_modules() -> None:
    global _original_prefixed_modules
    from dbt.plugins.manager import PluginManager

    current = PluginManager.__dict__["get_prefixed_modules"]
    if current is not _installed_prefixed_modules:
        _original_prefixed_modules = current.__func__
        PluginManager.get_prefixed_modules = _installed_prefixed_modules  # type: ignore[method-assign,assignment]

# -- dbt's previous state (--state) ----------------------------------------------------------------
#: ``--state`` makes each invocation read the base's manifest.json (and run results) and build a
#: manifest from it: ~30 ms for a small project, more for a large one. A ``pr open`` makes two such
#: invocations on the same folder when its classification needs dbt's compile (the ls of
#: ``state:modified``, then the compile; see ``branchops.lineage.quick``). While the files are the
#: same (the digest of their content), a later invocation takes the first one's reading: dbt
#: reads a previous state and does not change it (``--defer`` copies from it into the current manifest).
_states: dict[tuple[Any, ...], dict[str, Any]] = {}  # the files' identity -> a PreviousState's attributes
_original_state_init: Any = None
_STATE_FILES = ("manifest.json", "run_results.json", "sources.json")


def _state_key(state_path: Path, target_path: Path, project_root: Path) -> tuple[Any, ...]:
    root = Path(project_root)
    files = [root / state_path / name for name in _STATE_FILES] + [root / target_path / "sources.json"]
    digests: list[bytes | None] = []
    for file in files:
        try:
            # the content, not (size, mtime, inode): a file rewritten in place with as many bytes
            # in one tick of a coarse clock, or whose mtime was restored, keeps all three
            digests.append(hashlib.blake2b(file.read_bytes(), digest_size=20).digest() if file.is_file() else None)
        except OSError:
            digests.append(None)
    return (str(root.resolve()), str(state_path), str(target_path), tuple(digests))


def _previous_state_init(self: Any, state_path: Path, target_path: Path, project_root: Path) -> None:
    """``PreviousState.__init__``, once per state folder's content (the last one is kept)."""
    if Path(state_path) == Path(target_path):  # dbt warns about this each time: let it
        _original_state_init(self, state_path, target_path, project_root)
        return
    key = _state_key(state_path, target_path, project_root)
    known = _states.get(key)
    if known is not None:
        self.__dict__.update(known)
        return
    _original_state_init(self, state_path, target_path, project_root)
    _states.clear()
    _states[key] = dict(self.__dict__)


def _install_previous_state() -> None:
    global _original_state_init
    from dbt.contracts.state import PreviousState

    current = PreviousState.__dict__["__init__"]
    if current is not _previous_state_init:
        _original_state_init = current
        PreviousState.__init__ = _previous_state_init  # type: ignore[method-assign]

# -- dbt's JSON schemas ------------------------------------------------------------------------
#: dbt validates dbt_project.yml, the profile and every parsed node against JSON schemas it builds
#: from its dataclasses (mashumaro) in each process: ~0.4 s of a ``pr open``, the same every time
#: for the same versions. A publishing build stores the schemas it built with its artifacts
#: (``branchops.dbt.artifacts``); the next run of the same versions starts from them.
SCHEMAS_FILE = "branchops_dbt_schemas.json"
#: distributions whose classes dbt validates with: a stored schema is used only when all match
SCHEMA_DISTRIBUTIONS = ("dbt-core", "dbt-common", "dbt-adapters", "dbt-semantic-interfaces", "mashumaro")
#: modules whose classes' schemas are kept: dbt's own and its adapters' (``dbt.adapters.<name>``)
_SCHEMA_MODULES = ("dbt.", "dbt_common.", "dbt_semantic_interfaces.")

_built: dict[str, dict[str, Any]] = {}  # class -> schema, built or taken from a stored file
_stored: dict[str, dict[str, Any]] = {}  # class -> schema of a stored file, before its versions are checked
_stored_versions: dict[str, str] | None = None
_original_json_schema: Any = None


def _class_key(cls: type) -> str | None:
    module = cls.__module__
    return f"{module}:{cls.__qualname__}" if module.startswith(_SCHEMA_MODULES) else None


def _adapter_package(key: str) -> str | None:
    """``<name>`` for a class of ``dbt.adapters.<name>`` (an adapter, or a part of dbt-adapters)."""
    parts = key.split(":")[0].split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["dbt", "adapters"] else None


@functools.cache
def _held_packages(distribution: str) -> frozenset[str]:
    """The ``dbt/adapters/<name>`` packages and modules whose files ``distribution`` installed
    (none when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, files

    try:
        found = files(distribution) or ()
    except PackageNotFoundError:
        return frozenset()
    return frozenset(f.parts[2].removesuffix(".py") for f in found  # not dbt/adapters' own __init__
                     if len(f.parts) > 2 and f.parts[:2] == ("dbt", "adapters") and not f.parts[2].startswith("__"))


def _adapter_owners() -> dict[str, str]:
    """``<name>`` -> the installed distribution whose files hold ``dbt/adapters/<name>``, from the
    file lists of every installed dbt distribution (an adapter's distribution need not be named
    ``dbt-<name>``: dbt-athena-community holds ``dbt.adapters.athena``)."""
    from importlib.metadata import distributions

    owners: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().startswith("dbt"):
            owners.update({package: name for package in _held_packages(name) if package not in owners})
    return owners


def _owners(packages: Iterable[str]) -> dict[str, str]:
    """The distribution holding each of ``packages`` (``dbt.adapters.<name>``): dbt-adapters or
    ``dbt-<name>`` when their file lists say so (two small reads), else a scan of every installed
    dbt distribution (:func:`_adapter_owners`, ~65 ms); a package none holds is left out."""
    out: dict[str, str] = {}
    rest = []
    for package in packages:
        owner = next((d for d in ("dbt-adapters", f"dbt-{package}") if package in _held_packages(d)), None)
        if owner is None:
            rest.append(package)
        else:
            out[package] = owner
    if rest:
        everyone = _adapter_owners()
        out.update({p: everyone[p] for p in rest if p in everyone})
    return out


def _keyed_schemas(built: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The schemas that can be keyed on versions, and the distributions to key them on: the base
    distributions and each adapter's own. A class of ``dbt.adapters.<name>`` that no installed
    distribution holds is left out (built anew by each process) rather than kept unversioned."""
    owners = _owners({p for p in map(_adapter_package, built) if p is not None})
    kept: dict[str, dict[str, Any]] = {}
    distributions = set(SCHEMA_DISTRIBUTIONS)
    for key, schema in built.items():
        package = _adapter_package(key)
        if package is not None:
            if package not in owners:
                continue
            distributions.add(owners[package])
        kept[key] = schema
    return kept, distributions


def _versions(distributions: Iterable[str]) -> dict[str, str]:
    """The installed version of each of ``distributions`` that is installed."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in sorted(distributions):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _json_schema(cls: type) -> dict[str, Any]:
    global _stored_versions
    key = _class_key(cls)
    if key is None:
        return _original_json_schema(cls)  # type: ignore[no-any-return]
    schema = _built.get(key)
    if schema is None and _stored and _stored_versions is not None:
        if _versions(_stored_versions) == _stored_versions:
            _built.update({k: v for k, v in _stored.items() if k not in _built})
        _stored.clear()
        schema = _built.get(key)
    if schema is None:
        schema = _built[key] = _original_json_schema(cls)
    return schema


def preload_schemas(data: bytes) -> None:
    """Take the schemas a stored build wrote (:func:`write_schemas`); they are used once dbt asks
    for one, if the installed versions are the ones they were built with. Unreadable data is ignored."""
    global _stored_versions
    try:
        stored = json.loads(data)
        schemas, versions = stored["schemas"], stored["versions"]
    except (ValueError, KeyError, TypeError):
        return
    if isinstance(schemas, dict) and isinstance(versions, dict):
        _stored.clear()
        _stored.update(schemas)
        _stored_versions = {str(k): str(v) for k, v in versions.items()}


#: schemas a PR's partial parse of a changed model or test needs, which a build whose parse
#: validated no node does not build on its own: a build writes them too (once: then they are stored)
PR_SCHEMAS = ("dbt.contracts.graph.nodes:ModelNode", "dbt.artifacts.resources.v1.model:ModelConfig",
              "dbt.artifacts.resources.v1.components:Contract", "dbt.contracts.graph.nodes:SingularTestNode",
              "dbt.contracts.graph.nodes:GenericTestNode", "dbt.artifacts.resources.v1.config:TestConfig")


def _build_pr_schemas() -> None:
    for key in PR_SCHEMAS:
        module, name = key.split(":")
        cls = getattr(sys.modules.get(module), name, None)  # dbt loaded it, or this is no dbt run
        if key not in _built and isinstance(cls, type) and hasattr(cls, "json_schema"):
            cls.json_schema()


def write_schemas(path: Path) -> bool:
    """Write the schemas this process built or took from a stored build (with :data:`PR_SCHEMAS`),
    with the versions they were built with; False if dbt built none here."""
    if not _built:
        return False
    _build_pr_schemas()
    schemas, distributions = _keyed_schemas(_built)
    path.write_text(json.dumps({"versions": _versions(distributions), "schemas": schemas}))
    return True


_installed_json_schema: classmethod[Any, Any, Any] = classmethod(_json_schema)
