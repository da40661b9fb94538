"""Progress of long work (dbt builds, ingest, gc), shown only where someone is watching.

Library code calls :func:`step` as it goes; it costs nothing unless a caller installed a sink
with :func:`showing`. The CLI installs one only when stderr is a terminal and the output is not
JSON, so CI logs, pipes and ``--output json`` get no extra lines. The sink lives in a context
variable, not in the call signatures, so deep code (dbt's event callbacks) can report without
every layer passing a callback down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: receives one finished line of progress, e.g. ``"[3/9] dbt: sql table model main.orders"``
Sink = Callable[[str], None]

_SINK: ContextVar[Sink | None] = ContextVar("branchops_progress", default=None)


def line(done: int | None, total: int | None, what: str) -> str:
    """``"[done/total] what"``, or ``what`` alone when the count is unknown."""
    return f"[{done}/{total}] {what}" if done is not None and total else what


def step(done: int | None, total: int | None, what: str) -> None:
    """Report that step ``done`` of ``total`` is ``what`` (nothing happens without a sink)."""
    sink = _SINK.get()
    if sink is not None:
        sink(line(done, total, what))


def active() -> bool:
    """Someone is watching: worth collecting what :func:`step` needs."""
    return _SINK.get() is not None


def current() -> Sink | None:
    """The sink of this context, for work that reports from other threads (a context variable
    does not follow into a thread pool, e.g. dbt's): hand it over and call it there."""
    return _SINK.get()


@contextmanager
def showing(sink: Sink | None) -> Iterator[None]:
    """Send the progress of the work inside the block to ``sink`` (None: show nothing)."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)
