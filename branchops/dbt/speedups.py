"""Work dbt repeats on every invocation that gives the same answer for less.

dbt names the module that declared each behavior flag of an adapter by walking
``inspect.stack()``: that reads a line of source for every frame of a ~100-frame stack, for each
flag, at every invocation (a ``pr open`` makes four: parse, compile, ls, build). The walk below
finds the same module from the frames' globals without reading any source.
"""

from __future__ import annotations

import sys
from types import FrameType

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


def install() -> None:
    """Apply the speed-ups to dbt's classes (idempotent; dbt must be importable)."""
    from dbt_common.behavior_flags import BehaviorFlagRendered

    if BehaviorFlagRendered.__dict__.get("_default_source") is not _installed:
        BehaviorFlagRendered._default_source = _installed  # type: ignore[method-assign]


_installed = staticmethod(_default_source)
