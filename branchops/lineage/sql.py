"""Column-level lineage of one compiled SQL query, with sqlglot's scopes (what ``sqlglot.lineage``
walks): what each output column is computed from, and which columns of a relation a query reads.

A column's *fingerprint* is the text of its defining expression, followed down through every CTE
and subquery it comes from, plus the *row shape* of each query on the way (FROM/JOIN, WHERE,
GROUP BY, HAVING, DISTINCT, LIMIT, and the row shape of everything joined). Two versions of a
model compute a column the same way exactly when the fingerprints are equal, so a changed
fingerprint means its values may have changed: a new expression, cast, filter, join or source.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

# static Trino catalogs name the branch in the schema (``analytics@pr-42``): lineage compares without it
from branchops.engine.trino_settings import BRANCH_SEPARATOR

#: the pseudo column whose fingerprint is the row shape of the whole query (which rows there are)
ROWS = "*rows*"


class LineageError(Exception):
    """The SQL could not be analysed (parse error, unsupported construct)."""


@dataclass(frozen=True)
class Relation:
    """What a query can name a model by: its table (schema + name) or its ephemeral CTE."""

    schema: str | None
    name: str
    cte: str | None = None  # dbt inlines an ephemeral model as ``__dbt__cte__<name>``

    @classmethod
    def parse(cls, relation_name: str | None, *, ephemeral_of: str | None = None, dialect: str = "duckdb") -> Relation:
        if ephemeral_of is not None or not relation_name:
            name = ephemeral_of or ""
            return cls(None, name.lower(), cte=f"__dbt__cte__{name}".lower())
        try:
            table = exp.to_table(relation_name, dialect=dialect)
        except SqlglotError as e:
            raise LineageError(f"cannot read relation name {relation_name!r}: {e}") from None
        return cls(table.db.split(BRANCH_SEPARATOR, 1)[0].lower() or None, table.name.lower())

    def matches(self, table: exp.Table) -> bool:
        if self.cte is not None:
            return False
        if table.name.lower() != self.name:
            return False
        return not table.db or self.schema is None or table.db.lower() == self.schema


#: the columns a query reads of a relation: a set of names, or ALL (``select *``, unknown)
ALL: frozenset[str] = frozenset({"*"})


def _parse(sql: str, dialect: str) -> exp.Expr:
    try:
        ast = sqlglot.parse_one(sql, dialect=dialect)
        ast = qualify(ast, dialect=dialect, validate_qualify_columns=False, identify=False,
                      quote_identifiers=False)
        for table in ast.find_all(exp.Table):  # the database is per run (a scratch or fork catalog)
            table.set("catalog", None)
            if BRANCH_SEPARATOR in table.db:  # static Trino catalogs name the branch in the schema
                table.set("db", exp.to_identifier(table.db.split(BRANCH_SEPARATOR, 1)[0]))
    except (SqlglotError, RecursionError) as e:
        raise LineageError(f"sqlglot could not parse it ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    return ast


def _root(ast: exp.Expr) -> Scope:
    scope = build_scope(ast)
    if scope is None:
        raise LineageError("not a query")
    return scope


class _Fingerprints:
    """Fingerprints of the columns of one query, memoised per (scope, column)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.shapes: dict[int, str] = {}

    def _sql(self, node: exp.Expr) -> str:
        return node.sql(dialect=self.dialect, normalize=True, comments=False)

    def _child(self, scope: Scope, column: exp.Column) -> Scope | None:
        """The CTE/subquery scope a column reads from, if it is not a table."""
        sources = scope.selected_sources
        if column.table:
            found = sources.get(column.table)
            return found[1] if found and isinstance(found[1], Scope) else None
        scopes = [s for _, s in sources.values() if isinstance(s, Scope)]
        return scopes[0] if len(sources) == 1 and scopes else None

    def _deps(self, scope: Scope, node: exp.Expr, seen: frozenset[int]) -> list[str]:
        out = []
        for col in node.find_all(exp.Column):
            child = self._child(scope, col)
            if child is not None:
                out.append(f"{col.table}.{col.name}=[{self.column(child, col.name, seen)}]")
        return out

    def rows(self, scope: Scope, seen: frozenset[int] = frozenset()) -> str:
        key = id(scope)
        if key in self.shapes:
            return self.shapes[key]
        if key in seen:
            raise LineageError("recursive query")
        seen = seen | {key}
        node = scope.expression
        if not isinstance(node, exp.Select):  # a UNION and the like: every part of it counts
            text = self._sql(node)
        else:
            shape = node.copy()
            shape.set("expressions", [exp.Literal.number(1)])
            shape.set("with_", None)
            text = self._sql(shape)
            parts = [text]
            for name, (_, source) in sorted(scope.selected_sources.items()):
                if isinstance(source, Scope):
                    parts.append(f"{name}:{{{self.rows(source, seen)}}}")
            for clause in ("joins", "where", "group", "having", "qualify"):
                value = node.args.get(clause)
                for part in value if isinstance(value, list) else [value] if value is not None else []:
                    parts += self._deps(scope, part, seen)
            text = " ; ".join(parts)
        self.shapes[key] = text
        return text

    def column(self, scope: Scope, name: str, seen: frozenset[int] = frozenset()) -> str:
        node = scope.expression
        if not isinstance(node, exp.Select):
            return self.rows(scope, seen)  # set operations: conservative, the whole query
        for projection in node.selects:
            if projection.alias_or_name == name:
                expr = projection.unalias() if isinstance(projection, exp.Alias) else projection
                return " ; ".join([self._sql(expr), *self._deps(scope, expr, seen | {id(scope)}),
                                   "rows=" + self.rows(scope, seen)])
        if _has_star(node):
            return f"*{name} ; rows=" + self.rows(scope, seen)
        return f"?{name}"


def _has_star(select: exp.Select) -> bool:
    return any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))
               for p in select.selects)


@dataclass(frozen=True)
class QueryColumns:
    """The output columns of a query and their fingerprints; ``complete`` is False when the query
    selects ``*`` from something whose columns are not known (then only named columns are here)."""

    columns: dict[str, str]
    complete: bool


def output_columns(sql: str, dialect: str = "duckdb") -> QueryColumns:
    """Each output column's fingerprint, plus :data:`ROWS` for the query's row shape.

    Raises LineageError when sqlglot cannot parse or scope the SQL.
    """
    root = _root(_parse(sql, dialect))
    fp = _Fingerprints(dialect)
    node = root.expression
    selects = node.selects if isinstance(node, (exp.Select, exp.SetOperation)) else []
    names = [s.alias_or_name for s in selects if not isinstance(s, exp.Star) and s.alias_or_name != "*"]
    columns = {n.lower(): fp.column(root, n) for n in names}
    columns[ROWS] = fp.rows(root)
    complete = not (isinstance(node, exp.Select) and _has_star(node))
    return QueryColumns(columns, complete)


def columns_read(sql: str, relation: Relation, dialect: str = "duckdb") -> frozenset[str] | None:
    """The columns of ``relation`` that ``sql`` reads: a set of names (lower case), :data:`ALL`
    when it selects ``*`` from it or a column cannot be attributed, or None when it does not read
    ``relation`` at all. Raises LineageError when the SQL cannot be analysed."""
    if relation.cte is not None and _star_over(sql, relation.cte, dialect):
        return ALL  # qualify would expand it to the columns the inlined CTE has in this very SQL
    root = _root(_parse(sql, dialect))
    read: set[str] = set()
    found = False
    for scope in root.traverse():
        aliases = set()
        for alias, (_, source) in scope.selected_sources.items():
            table = isinstance(source, exp.Table) and relation.matches(source)
            cte = isinstance(source, Scope) and relation.cte is not None and _cte_name(scope, alias) == relation.cte
            if table or cte:
                aliases.add(alias)
        if not aliases:
            continue
        found = True
        node = scope.expression
        if isinstance(node, exp.Select) and any(
            isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star)
                                        and (not p.table or p.table in aliases))
            for p in node.selects
        ):
            return ALL
        for col in scope.columns:
            if col.table in aliases or not col.table:  # unqualified among several sources: may be ours
                read.add(col.name.lower())
    return frozenset(read) if found else None


def _cte_name(scope: Scope, alias: str) -> str | None:
    """The CTE an alias in ``scope``'s FROM/JOIN stands for (``from __dbt__cte__x as p``)."""
    node, _ = scope.selected_sources[alias]
    return node.name.lower() if isinstance(node, exp.Table) else None



def _star_over(sql: str, cte: str, dialect: str) -> bool:
    """Does a SELECT of ``sql`` (as written, before :func:`_parse` expands stars) select ``*`` or
    ``x.*`` from the CTE ``cte``? An ephemeral model's readers then read all its columns, also
    those a PR adds or removes: dbt inlines the model's SQL of the one side into the reader's."""
    try:
        ast = sqlglot.parse_one(sql, dialect=dialect)
    except (SqlglotError, RecursionError):
        return False  # _parse says why
    for select in ast.find_all(exp.Select):
        sources = [select.args.get("from_") or select.args.get("from"), *(select.args.get("joins") or [])]
        tables = [s.this for s in sources if s is not None and isinstance(s.this, exp.Table)]
        aliases = {t.alias_or_name.lower() for t in tables if t.name.lower() == cte}
        if aliases and any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star)
                                                       and (not p.table or p.table.lower() in aliases))
                           for p in select.expressions):
            return True
    return False
