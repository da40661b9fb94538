"""Garbage collection, deferred imports and the exit of a whole ``branchops`` process: short-lived
and allocation-heavy.

Importing dbt and parsing a project make a heap of some 200,000 objects (dbt's import alone leaves
~80,000 of cyclic garbage from generated code); with CPython's default thresholds a ``pr open``
collects ~900 times, six of them walking the whole heap, and at exit the interpreter walks it once
more while it tears the modules down. Fewer collections while running and none of the surviving
heap at exit cut about 1.5 s off a ``pr open`` (``bench/pr_cycle.py``), and rarer collections of
the middle generation ~0.12 s more. Only a whole process
tunes this (``branchops`` on the command line, ``python -m branchops``); ``main(argv)`` called
in-process (tests) leaves the collector as it is.

Such a process also defers a module that pyiceberg imports and a branchops run does not use: its
code runs at first use (``importlib.util.LazyLoader``), ~30 ms of every process that loads
pyiceberg otherwise. See :data:`DEFERRED`. And the JSON-schema classes of mashumaro, which dbt
imports and, with the schemas branchops stores, seldom uses, compile their (de)serializers at
first use instead of at import: see :data:`LAZY_COMPILED`.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

#: allocations between young-generation collections (CPython's default: 700, 10, 10): the garbage
#: a CLI run makes is mostly dbt's, and it is freed when the process ends a few seconds later.
#: Young collections between middle-generation ones: 100, not 10. What survives a young
#: collection in a ``pr open`` is mostly dbt's import (classes, functions, generated code), which
#: lives to the end; every 10th young collection walked all of it again (7 walks, ~0.12 s of a
#: ~2.7 s ``pr open``; now ~3 MB more peak memory). A long build still collects it every ~1M allocations.
THRESHOLDS = (10_000, 100, 10)


#: imported at module level by pyiceberg, used only on paths a branchops run does not take:
#: the parser of string row filters (pyparsing, ~30 ms), which branchops never passes. Python
#: 3.11's LazyLoader is not thread-safe (two threads first touching a lazy module fail with
#: AttributeError), so only a module no thread reaches is deferred: strictyaml is not, since
#: pyiceberg reads ~/.pyiceberg.yaml, when there is one, on every metadata write, and
#: ``branchops serve`` writes from several threads
DEFERRED = frozenset({"pyiceberg.expressions.parser"})


#: modules whose mashumaro classes compile their ``to_dict``/``from_dict`` when first called, not
#: when the module runs (mashumaro's ``lazy_compilation``, which dbt's own classes already use):
#: ``mashumaro.jsonschema``, imported by dbt through ``dbt_common.dataclass_schema``, took ~110 ms
#: to import, most of it compiling the serializers of ``JSONSchema`` and its subclasses, in every
#: process that imports dbt; now ~35 ms. They run only when dbt builds a JSON schema, which a build
#: whose schemas branchops stored does not (``branchops.dbt.speedups``). Same code, compiled later.
LAZY_COMPILED = frozenset({"mashumaro.jsonschema.models", "mashumaro.jsonschema.schema"})


class _CompilingLazily(importlib.abc.Loader):
    """Runs a module with mashumaro's ``lazy_compilation`` on for the classes it defines; the
    module's own loader does the rest."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ...: the module's own loader
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        from mashumaro.config import BaseConfig

        before = BaseConfig.lazy_compilation
        BaseConfig.lazy_compilation = True
        try:
            self.loader.exec_module(module)
        finally:
            BaseConfig.lazy_compilation = before


class DeferredImports:
    """A meta path finder: the modules of ``DEFERRED`` are imported lazily (executed when one of
    their attributes is first read), those of ``LAZY_COMPILED`` with lazily compiled classes, any
    other module as usual."""

    @staticmethod
    def find_spec(name: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> Any:
        if name not in DEFERRED and name not in LAZY_COMPILED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        if name in DEFERRED:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        elif _has_lazy_compilation():
            spec.loader = _CompilingLazily(spec.loader)
        return spec


def _has_lazy_compilation() -> bool:
    """mashumaro's config has the switch (3.8 and later; dbt requires newer)."""
    try:
        from mashumaro.config import BaseConfig
    except ImportError:
        return False
    return isinstance(getattr(BaseConfig, "lazy_compilation", None), bool)


def start() -> None:
    gc.set_threshold(*THRESHOLDS)
    if DeferredImports not in sys.meta_path:
        sys.meta_path.insert(0, DeferredImports)


def before_exit() -> None:
    """Whatever is alive now lives until the process ends: keep the collector off it at shutdown
    (objects are still finalized; only the cycle search over them is skipped)."""
    gc.freeze()


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once the command is done, doing what a normal exit does first:
    threading's shutdown (executors stop their idle workers; every non-daemon thread is joined),
    the ``atexit`` handlers (logging's flush, temporary folders' cleanup, every
    ``weakref.finalize``), and a flush of the standard streams. What is skipped is tearing the modules
    down and freeing, one by one, the ~200,000 objects dbt's import and parse leave: 20-50 ms of a
    ``pr open``. Output that cannot be flushed ends the process with 120, as Python's own exit does.
    A Python without ``threading._shutdown``, or one being profiled, debugged or traced, exits normally."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None or threading.current_thread() is not threading.main_thread():
        sys.exit(code)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler (cProfile -o), debugger or tracer reports once main() raised SystemExit
    shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None or getattr(stream, "closed", False):  # started with fd 1 or 2 closed: nothing to flush
            continue
        try:
            stream.flush()
        except Exception as e:  # a full disk, a reader gone: output is lost, the run failed (as Python)
            with contextlib.suppress(Exception):
                os.write(2, f"Exception ignored on flushing sys.{_name(stream)}:\n{type(e).__name__}: {e}\n"
                         .encode(errors="replace"))
            code = FLUSH_FAILED
    os._exit(code)


#: the exit status of a Python whose standard streams could not be flushed at exit (CPython's ``Py_Exit``)
FLUSH_FAILED = 120


def _name(stream: object) -> str:
    return "stdout" if stream is sys.stdout else "stderr"
