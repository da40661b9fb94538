"""The compiled SQL of models whose only Jinja is ``ref``, ``source`` and ``config``, without dbt.

A PR's classification needs the compiled SQL of its modified models and of the models that read
them. dbt's ``compile`` gives it, at the cost of a dbt invocation (~0.1 s of a one-model PR: the
invocation's set-up, a copy of the manifest, the database connection). For the common model,
``select ... from {{ ref('x') }}`` with perhaps a ``{{ config(...) }}`` line, what dbt renders is
known: each ``ref``/``source`` call becomes the ``relation_name`` the parse recorded for its node,
and ``config`` renders nothing. :func:`render` does that and nothing more; any other Jinja (``{% %}``,
``{# #}``, ``this``, ``var``, macros, whitespace control), a ``ref`` with a version or to an
ephemeral model, a name that is not unique, or a project that overrides ``ref`` or ``source``:
None, and the caller runs dbt's compile. A test compares :func:`render` with dbt's own compile
on every model it accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: ``{{ ref(...) }}``, ``{{ source(...) }}``, ``{{ config(...) }}`` (arguments up to the ``)`` that closes the tag)
_CALL = re.compile(r"\{\{\s*(ref|source|config)\s*\((.*?)\)\s*\}\}", re.S)
#: string literals, comma-separated: the only arguments taken for ``ref`` and ``source``
_LITERALS = re.compile(r"""\s*(?:'([A-Za-z0-9_]+)'|"([A-Za-z0-9_]+)")\s*(?:,|$)""")
_JINJA = ("{{", "}}", "{%", "%}", "{#", "#}")
#: resource types a ``ref`` may name
REFABLE = frozenset({"model", "seed", "snapshot"})
#: what a PR can change without changing a reader's file: project vars (``--vars``), environment
#: variables, other nodes (``graph``: a model's meta, tags, columns)
_CONTEXT = re.compile(r"\b(?:env_var|var|graph)\b")


def _names(args: str) -> list[str] | None:
    """The string literals of ``args`` (``'a', "b"``), else None (keywords, expressions, ...)."""
    out: list[str] = []
    pos = 0
    while pos < len(args):
        m = _LITERALS.match(args, pos)
        if m is None or m.end() == pos:
            return None
        out.append(m.group(1) or m.group(2))
        pos = m.end()
    return out


def overrides_ref_or_source(manifest: Mapping[str, Any]) -> bool:
    """Does a macro of the project or a package replace dbt's ``ref`` or ``source``?"""
    return any(str(uid).rsplit(".", 1)[-1] in ("ref", "source") for uid in manifest.get("macros", {}))


def _ref(manifest: Mapping[str, Any], names: list[str]) -> str | None:
    if not 1 <= len(names) <= 2:
        return None
    package, name = (names[0], names[1]) if len(names) == 2 else (None, names[0])
    found = [n for n in manifest.get("nodes", {}).values()
             if n.get("resource_type") in REFABLE and n.get("name") == name
             and (package is None or n.get("package_name") == package)]
    if len(found) != 1:  # none, or the same name in several packages (dbt's own resolution order)
        return None
    node = found[0]
    if node.get("version") is not None or (node.get("config") or {}).get("materialized") == "ephemeral":
        return None
    relation = node.get("relation_name")
    return relation if isinstance(relation, str) and relation else None


def _source(manifest: Mapping[str, Any], names: list[str]) -> str | None:
    if len(names) != 2:
        return None
    found = [s for s in manifest.get("sources", {}).values()
             if s.get("source_name") == names[0] and s.get("name") == names[1]]
    if len(found) != 1:
        return None
    relation = found[0].get("relation_name")
    return relation if isinstance(relation, str) and relation else None


def render(node: Mapping[str, Any], manifest: Mapping[str, Any]) -> str | None:
    """The SQL dbt's compile makes of ``node`` (a parsed manifest's node, in ``manifest``), when
    its Jinja is only ``ref``/``source`` calls with names and ``config`` calls; else None."""
    raw = node.get("raw_code")
    if node.get("language", "sql") != "sql" or not isinstance(raw, str) or "\r" in raw:
        return None  # Jinja turns CR and CRLF line breaks into LF, in SQL strings too
    raw = raw[:-1] if raw.endswith("\n") else raw  # and drops one trailing newline (a snapshot's block)
    pieces: list[str] = []
    pos = 0
    for m in _CALL.finditer(raw):
        pieces.append(raw[pos:m.start()])
        pos = m.end()
        kind, args = m.group(1), m.group(2)
        if kind == "config":
            if any(mark in args for mark in _JINJA):
                return None
            continue  # renders as nothing
        names = _names(args)
        relation = None if names is None else (_ref if kind == "ref" else _source)(manifest, names)
        if relation is None:
            return None
        pieces.append(relation)
    pieces.append(raw[pos:])
    text = "".join(pieces)
    if any(mark in piece for piece in pieces for mark in _JINJA):
        return None  # other Jinja: dbt renders it
    return text


def reads_context(node: Mapping[str, Any], manifest: Mapping[str, Any]) -> bool:
    """Does ``node``'s code, or a macro it calls (transitively, ``manifest``'s), name ``var``,
    ``env_var`` or ``graph``? Then its compiled SQL can differ with the same file, config and
    macros (the PR changed a var in ``dbt_project.yml``), which ``state:modified`` does not see."""
    macros: Mapping[str, Any] = manifest.get("macros", {})
    queue = list((node.get("depends_on") or {}).get("macros") or [])
    seen: set[str] = set()
    texts = [str(node.get("raw_code") or "")]
    while queue:
        uid = queue.pop()
        if uid in seen:
            continue
        seen.add(uid)
        macro = macros.get(uid) or {}
        texts.append(str(macro.get("macro_sql") or ""))
        queue.extend((macro.get("depends_on") or {}).get("macros") or [])
    return any(_CONTEXT.search(text) for text in texts)


def with_relations(parsed: Mapping[str, Any], manifest_obj: Any) -> dict[str, Any]:
    """``parsed`` with the relation names of dbt's manifest object, which a run may have changed
    after the parse wrote ``manifest.json`` (static Trino catalogs point sources at the branch):
    the names dbt's compile would render."""
    out = dict(parsed)
    for key in ("nodes", "sources"):
        entries = dict(parsed.get(key, {}))
        for uid, obj in (getattr(manifest_obj, key, None) or {}).items():
            relation = getattr(obj, "relation_name", None)
            if uid in entries and relation != entries[uid].get("relation_name"):
                entries[uid] = {**entries[uid], "relation_name": relation}
        out[key] = entries
    return out


def compiled_head(parsed: Mapping[str, Any], base: Mapping[str, Any], modified: list[str],
                  readers: frozenset[str], lookup: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """``parsed`` with the compiled SQL the classification reads: each modified model's, rendered,
    and that of the ``readers`` types downstream of them, rendered or, when unchanged since the
    base, the base's. ``lookup``: the manifest whose relation names ``ref``/``source`` render as
    (``parsed`` by default; see :func:`with_relations`). None when a modified node is not a model
    or test, a model moved (its readers' SQL names its old table), or a needed SQL cannot be
    rendered here: then dbt compiles. A reader that reads a var, an environment variable or the
    graph (:func:`reads_context`) is not taken from the base: the PR may have changed them."""
    lookup = parsed if lookup is None else lookup
    nodes: Mapping[str, Any] = parsed.get("nodes", {})
    before: Mapping[str, Any] = base.get("nodes", {})
    if overrides_ref_or_source(parsed) or overrides_ref_or_source(base):
        return None
    models: list[str] = []
    for uid in modified:
        node = nodes.get(uid)
        if node is None:
            return None
        kind = node.get("resource_type")
        if kind in ("test", "unit_test"):
            continue  # not classified; the build compiles what it runs
        if kind != "model":
            return None
        old = before.get(uid)
        if old is not None and old.get("relation_name") != node.get("relation_name"):
            return None
        models.append(uid)
    compiled: dict[str, str] = {}
    for uid in models:
        sql = render(nodes[uid], lookup)
        if sql is None:
            return None
        compiled[uid] = sql
    for uid in models:
        for child in parsed.get("child_map", {}).get(uid, []):
            node = nodes.get(child) or {}
            if child in compiled or node.get("resource_type") not in readers:
                continue
            old = before.get(child) or {}
            same = old.get("compiled_code") and old.get("checksum") == node.get("checksum") \
                and old.get("config") == node.get("config") and child not in modified \
                and not reads_context(node, parsed)
            sql = str(old["compiled_code"]) if same else render(node, lookup)
            if sql is None:
                return None
            compiled[child] = sql
    out = dict(nodes)
    for uid, sql in compiled.items():
        out[uid] = {**nodes[uid], "compiled_code": sql, "compiled": True}
    return {**parsed, "nodes": out}
