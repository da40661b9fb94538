"""Rendering results: JSON (stdout holds only the JSON) or rich tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

from branchops.secrets import redact


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def emit(fmt: OutputFormat, data: Any, human: Callable[[], None] | None = None) -> None:
    """Print ``data`` as JSON, or call ``human`` to print it for people."""
    if fmt is OutputFormat.JSON or human is None:
        sys.stdout.write(redact(json.dumps(data, indent=2, sort_keys=False, default=str)) + "\n")
    else:
        human()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*(redact("" if v is None else str(v)) for v in r))
    console.print(t)


def say(message: str) -> None:
    console.print(redact(message), soft_wrap=True)


def short(h: str | None) -> str:
    return (h or "")[:12]
