"""SQL text with ``:name`` parameters, as the drivers take it: ``IN :name`` lists spelled out, and
psycopg2's ``%(name)s`` style. Pure text work, no connection (see :mod:`~branchops.catalog.sql.db`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

_IN_LIST = re.compile(r"\bIN\s+:(\w+)", re.IGNORECASE)
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")  # not ``::type`` casts, not ``12:30``


@lru_cache(maxsize=512)
def pyformat(sql: str) -> str:
    """``:name`` parameters as psycopg2's ``%(name)s`` (literal ``%`` doubled)."""
    return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


def expand_lists(sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``IN :name`` with a list (or tuple) value as one parameter per item; a list of tuples
    becomes ``IN (VALUES (...), ...)``, which both SQLite and PostgreSQL compare row values with."""
    out = dict(params)
    expanded: set[str] = set()

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        values = params.get(name)
        if not isinstance(values, list | tuple):
            return m.group(0)
        expanded.add(name)
        if not values:
            raise ValueError(f"IN :{name} with no values")
        items = []
        for i, value in enumerate(values):
            if isinstance(value, tuple):
                keys = [f"{name}_{i}_{j}" for j in range(len(value))]
                out.update(zip(keys, value, strict=True))
                items.append("(" + ", ".join(f":{k}" for k in keys) + ")")
            else:
                out[f"{name}_{i}"] = value
                items.append(f":{name}_{i}")
        joined = ", ".join(items)
        return f"IN (VALUES {joined})" if isinstance(values[0], tuple) else f"IN ({joined})"

    text = _IN_LIST.sub(one, sql)
    for name in expanded:
        del out[name]
    return text, out
