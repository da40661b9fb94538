"""lineage/quick.py: rendering a model's SQL without dbt, only when dbt would render it the same.
(That it matches dbt's compile on real projects: tests/lineage/test_pr_classify.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from branchops.lineage.classify import READER_TYPES
from branchops.lineage.quick import compiled_head, render


def model(name: str, raw: str, *, package: str = "shop", **extra: Any) -> dict[str, Any]:
    return {"unique_id": f"model.{package}.{name}", "resource_type": "model", "name": name, "package_name": package,
            "language": "sql", "raw_code": raw, "relation_name": f'"db"."analytics"."{name}"',
            "config": {"materialized": "table"}, "checksum": {"name": "sha256", "checksum": raw}, **extra}


def manifest(*nodes: dict[str, Any], macros: tuple[str, ...] = (), child_map: dict[str, list[str]] | None = None
             ) -> dict[str, Any]:
    return {
        "nodes": {n["unique_id"]: n for n in nodes},
        "sources": {"source.shop.raw.orders": {"source_name": "raw", "name": "orders",
                                               "relation_name": '"db"."raw"."orders"'}},
        "macros": {f"macro.shop.{m}": {} for m in macros},
        "child_map": child_map or {},
    }


HUB = model("hub", "select 1 as id")


@pytest.mark.parametrize(("raw", "sql"), [
    ("select id from {{ ref('hub') }}", 'select id from "db"."analytics"."hub"'),
    ('select id from {{ref("hub")}} join {{ source("raw", "orders") }} using (id)',
     'select id from "db"."analytics"."hub" join "db"."raw"."orders" using (id)'),
    ("{{ config(materialized='table',\n    tags=['a', 'b']) }}\n\nselect id from {{ ref('shop', 'hub') }}",
     '\n\nselect id from "db"."analytics"."hub"'),
    ("{{ config(materialized=var('m', 'table')) }} select 1",  # config() renders nothing, whatever it holds
     " select 1"),
    ("select 1 as x -- {{ ref('hub') }} in a SQL comment is rendered too",
     'select 1 as x -- "db"."analytics"."hub" in a SQL comment is rendered too'),
])
def test_refs_sources_and_configs_render_as_dbt_does(raw: str, sql: str) -> None:
    assert render(model("m", raw), manifest(HUB, model("m", raw))) == sql


@pytest.mark.parametrize("raw", [
    "select id from {{- ref('hub') }}",  # whitespace control
    "select id from {{ ref('hub') -}}",
    "select id from {{ this }}",
    "select {{ var('x') }} from {{ ref('hub') }}",
    "select id from {{ ref('hub') }} {% if is_incremental() %} where id > 0 {% endif %}",
    "{# a note #} select id from {{ ref('hub') }}",
    "select id from {{ ref('hub', v=2) }}",  # a version
    "select id from {{ ref(name) }}",  # not a literal
    "select id from {{ ref('nope') }}",  # no such node
    "select id from {{ source('orders') }}",  # a source needs two names
    "select id from {{ ref('eph') }}",  # ephemeral: dbt inlines a CTE
    "select id from {{ ref('twice') }}",  # the same name in two packages
    "select id from {{ ref('versioned') }}",
])
def test_anything_else_is_left_to_dbt(raw: str) -> None:
    nodes = (HUB, model("eph", "select 1", config={"materialized": "ephemeral"}), model("twice", "select 1"),
             model("twice", "select 2", package="other"), model("versioned", "select 1", version=2))
    assert render(model("m", raw), manifest(*nodes)) is None


def test_a_python_model_is_left_to_dbt() -> None:
    assert render(model("m", "def model(dbt, session): ...", language="python"), manifest(HUB)) is None


def _pr(*, hub: str = "select 1 as id, 2 as v", reader: str = "select id from {{ ref('hub') }}",
        base_reader: str | None = None, macros: tuple[str, ...] = (), relation: str | None = None
        ) -> tuple[dict[str, Any], dict[str, Any]]:
    children = {"model.shop.hub": ["model.shop.reader", "test.shop.t"]}
    head_hub = model("hub", hub, **({"relation_name": relation} if relation else {}))
    head = manifest(head_hub, model("reader", reader), macros=macros, child_map=children)
    head["nodes"]["test.shop.t"] = {"unique_id": "test.shop.t", "resource_type": "test", "name": "t"}
    old_reader = model("reader", base_reader or reader,
                       compiled_code="select id from \"db\".\"analytics\".\"hub\" /* base */")
    base = manifest(model("hub", "select 1 as id", compiled_code="select 1 as id"), old_reader, child_map=children)
    return head, base


def test_the_head_holds_the_modified_models_sql_and_an_unchanged_readers_from_the_base() -> None:
    head, base = _pr()
    out = compiled_head(head, base, ["model.shop.hub", "test.shop.t"], READER_TYPES)
    assert out is not None
    assert out["nodes"]["model.shop.hub"]["compiled_code"] == "select 1 as id, 2 as v"
    assert out["nodes"]["model.shop.reader"]["compiled_code"].endswith("/* base */")
    assert "compiled_code" not in out["nodes"]["test.shop.t"]  # tests: the build compiles them
    assert "compiled_code" not in head["nodes"]["model.shop.hub"]  # the parsed manifest is left as it was


def test_a_reader_changed_since_the_base_is_rendered_too() -> None:
    head, base = _pr(base_reader="select id, 1 as z from {{ ref('hub') }}")
    out = compiled_head(head, base, ["model.shop.hub"], READER_TYPES)
    assert out is not None
    assert out["nodes"]["model.shop.reader"]["compiled_code"] == 'select id from "db"."analytics"."hub"'


@pytest.mark.parametrize(("kwargs", "modified"), [
    ({"macros": ("ref",)}, ["model.shop.hub"]),  # the project replaces ref
    ({"relation": '"db"."other"."hub"'}, ["model.shop.hub"]),  # moved: its readers' SQL names the old table
    ({"hub": "{% set x = 1 %} select 1 as id"}, ["model.shop.hub"]),
    ({"reader": "select id from {{ this }}", "base_reader": "select 0 as id"}, ["model.shop.hub"]),
    ({}, ["seed.shop.s"]),  # a modified seed (or any node but a model or test): dbt's compile
])
def test_dbt_compiles_when_any_needed_sql_cannot_be_rendered_here(kwargs: dict[str, Any], modified: list[str]) -> None:
    head, base = _pr(**kwargs)
    head["nodes"]["seed.shop.s"] = {"unique_id": "seed.shop.s", "resource_type": "seed", "name": "s"}
    assert compiled_head(head, base, modified, READER_TYPES) is None


def test_relation_names_are_taken_from_dbts_manifest_object_when_a_run_repointed_them() -> None:
    """Static Trino catalogs point the parsed manifest object's sources at the branch after
    manifest.json was written: ``source()`` must render the object's name, as dbt's compile would."""
    from types import SimpleNamespace

    from branchops.lineage.quick import with_relations

    reader = model("reader", "select * from {{ source('raw', 'orders') }}")
    parsed = manifest(reader)
    repointed = SimpleNamespace(nodes={reader["unique_id"]: SimpleNamespace(relation_name=reader["relation_name"])},
                                sources={"source.shop.raw.orders": SimpleNamespace(
                                    relation_name='"db"."raw@pr-7"."orders"')})
    lookup = with_relations(parsed, repointed)
    assert render(reader, lookup) == 'select * from "db"."raw@pr-7"."orders"'
    assert parsed["sources"]["source.shop.raw.orders"]["relation_name"] == '"db"."raw"."orders"'  # left as it was
    head = compiled_head(parsed, manifest(), [reader["unique_id"]], READER_TYPES, lookup)
    assert head is not None and head["nodes"][reader["unique_id"]]["compiled_code"].endswith('"raw@pr-7"."orders"')


@pytest.mark.parametrize(("reader", "macro_sql", "reused"), [
    ("select id, {{ var('c') }} from {{ ref('hub') }} {# x #}", "", False),  # a project var: the PR may change it
    ("select id, {{ env_var('C') }} from {{ ref('hub') }} {# x #}", "", False),
    # columns listed in the modified model's meta: the PR changes them with the model's config
    ("select {{ graph.nodes['model.shop.hub'].config.meta.cols | join(', ') }} from {{ ref('hub') }}", "", False),
    ("select {{ cols() }} from {{ ref('hub') }} {# x #}", "{% macro inner() %}{{ var('c') }}{% endmacro %}", False),
    ("select {{ cols() }} from {{ ref('hub') }} {# x #}", "{% macro inner() %}id{% endmacro %}", True),
])
def test_an_unchanged_reader_is_taken_from_the_base_only_if_it_reads_no_var(
        reader: str, macro_sql: str, reused: bool) -> None:
    """A var the reader (or a macro it calls, transitively) reads can change in the PR with the
    file, config and macros unchanged: not state:modified, but dbt compiles it to other SQL."""
    head, base = _pr(reader=reader)
    head["nodes"]["model.shop.reader"]["depends_on"] = {"macros": ["macro.shop.cols"]}
    head["macros"] = {"macro.shop.cols": {"macro_sql": "{% macro cols() %}{{ inner() }}{% endmacro %}",
                                          "depends_on": {"macros": ["macro.shop.inner"]}},
                      "macro.shop.inner": {"macro_sql": macro_sql, "depends_on": {"macros": ["macro.shop.cols"]}}}
    out = compiled_head(head, base, ["model.shop.hub"], READER_TYPES)
    assert (out is not None) == reused
    if out is not None:
        assert out["nodes"]["model.shop.reader"]["compiled_code"].endswith("/* base */")
