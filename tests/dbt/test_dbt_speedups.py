"""branchops.dbt.speedups: dbt reports exactly what it reported before, for less."""

from __future__ import annotations

import inspect
import sys

from dbt_common.behavior_flags import Behavior, BehaviorFlagRendered

from branchops.dbt import speedups


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
