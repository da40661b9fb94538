"""How a REST request names a branch: in the namespace (``analytics@pr-42``), in the table
(``orders@pr-42``) or in the catalog prefix (the ``warehouse`` a client asks ``/v1/config`` for).

One static catalog in Trino (or one ``ATTACH`` in DuckDB) then reaches every branch: the
identifier wins over the prefix, and ``main`` (the default branch) is used when neither names
one. Anything after the ``@`` is a ref as ``VersionedCatalog`` reads it, so
``analytics@main@1a2b3c`` (a past commit of ``main``) can be read too; only a branch can be
written.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

#: separates a namespace or table name from the ref it is read on
BRANCH_SEPARATOR = "@"
#: the REST spec's separator of namespace levels inside one path segment
NAMESPACE_SEPARATOR = "\x1f"
#: first path segments after ``/v1/`` that are routes, not a prefix
ROUTES = frozenset({"config", "oauth", "namespaces", "tables", "transactions", "views"})


class RestError(Exception):
    """An answer in the Iceberg REST error model: ``{"error": {"message", "type", "code"}}``."""

    def __init__(self, code: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.code, self.type, self.message = code, type_, message

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code}}


def bad_request(message: str) -> RestError:
    return RestError(400, "BadRequestException", message)


def split_branch(name: str) -> tuple[str, str | None]:
    """``"analytics@pr-42"`` -> ``("analytics", "pr-42")``; ``"analytics"`` -> ``("analytics", None)``."""
    base, sep, ref = name.partition(BRANCH_SEPARATOR)
    if sep and not ref:
        raise bad_request(f"{name!r} names no branch after {BRANCH_SEPARATOR!r}")
    return base, (ref if sep else None)


def encode_prefix(ref: str) -> str:
    return quote(ref, safe="")


def decode_segment(segment: str) -> str:
    return unquote(segment)


@dataclass(frozen=True)
class Namespace:
    """A namespace as a request names it: the plain name, the ref it is on, the name as sent."""

    name: str
    ref: str
    as_sent: str

    @classmethod
    def parse(cls, raw: str | list[str], default_ref: str) -> Namespace:
        levels = raw.split(NAMESPACE_SEPARATOR) if isinstance(raw, str) else list(raw)
        if len(levels) != 1 or not levels[0]:
            raise bad_request(
                f"namespace {'.'.join(levels)!r} has {len(levels)} levels; branchops namespaces have one "
                "(they are Trino schemas / dbt schemas)"
            )
        base, ref = split_branch(levels[0])
        if not base:
            raise bad_request(f"namespace {levels[0]!r} has no name before {BRANCH_SEPARATOR!r}")
        return cls(base, ref or default_ref, levels[0])


@dataclass(frozen=True)
class TableName:
    namespace: Namespace
    name: str
    as_sent: str

    @property
    def ref(self) -> str:
        return self.namespace.ref

    @property
    def table_id(self) -> str:
        """``"ns.table"``, the key of the versioned catalog."""
        return f"{self.namespace.name}.{self.name}"

    @classmethod
    def parse(cls, namespace: Namespace, raw: str) -> TableName:
        base, ref = split_branch(raw)
        if not base:
            raise bad_request(f"table {raw!r} has no name before {BRANCH_SEPARATOR!r}")
        if ref is not None:
            if namespace.as_sent != namespace.name and ref != namespace.ref:
                raise bad_request(
                    f"{namespace.as_sent}.{raw} names two branches ({namespace.ref} and {ref}): name one"
                )
            namespace = Namespace(namespace.name, ref, namespace.as_sent)
        return cls(namespace, base, raw)
