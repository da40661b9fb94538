"""Classification on small synthetic manifests: one model changes one way, a downstream model
reads the affected column or not; expectations are worked out by hand from the SQL."""

from __future__ import annotations

from typing import Any

import pytest

from branchops.lineage import Classifier, columns_read, output_columns
from branchops.lineage.sql import ALL, ROWS, Relation

BASE_A = "select id, amount, status, cast(created as date) as created_on from raw.t where status <> 'x'"


def manifest(models: dict[str, str], reads: dict[str, list[str]], exposures: dict[str, list[str]] | None = None,
             **configs: dict[str, Any]) -> dict[str, Any]:
    """``models``: name -> compiled SQL (``None``: a Python model); ``reads``: name -> its parents."""
    nodes: dict[str, Any] = {}
    children: dict[str, list[str]] = {f"model.p.{m}": [] for m in models}
    for name, sql in models.items():
        uid = f"model.p.{name}"
        nodes[uid] = {
            "unique_id": uid, "name": name, "resource_type": "model", "schema": "analytics", "alias": name,
            "relation_name": f'"memory"."analytics"."{name}"', "language": "python" if sql is None else "sql",
            "compiled_code": sql, "config": {"materialized": "table", **configs.get(name, {})},
        }
        for parent in reads.get(name, []):
            children[f"model.p.{parent}"].append(uid)
    exps = {}
    for name, parents in (exposures or {}).items():
        uid = f"exposure.p.{name}"
        exps[uid] = {"name": name, "label": name.title(), "url": f"https://bi.example.com/{name}"}
        for parent in parents:
            children[f"model.p.{parent}"].append(uid)
    return {"nodes": nodes, "child_map": children, "exposures": exps}


def classify(a_before: str, a_after: str, b: str | None, *, exposure: bool = False, **configs: dict[str, Any]) -> Any:
    """Model a changes from ``a_before`` to ``a_after``; model b (if any) reads a."""
    models = {"a": a_before} | ({"b": b} if b is not None else {})
    reads = {"b": ["a"]} if b is not None else {}
    exps = {"dash": ["a"]} if exposure else None
    base = manifest(models, reads, exps)
    head = manifest({**models, "a": a_after}, reads, exps, **configs)
    [change] = Classifier(base, head).classify(["model.p.a"])
    return change


READS_AMOUNT = 'select id, amount * 2 as double from "memory"."analytics"."a"'
READS_STATUS_ONLY = 'select id, status from "memory"."analytics"."a"'
COUNTS_ROWS = 'select count(*) as n from "memory"."analytics"."a"'


def test_a_new_column_is_non_breaking_even_when_read_downstream() -> None:
    after = BASE_A.replace("status,", "status, amount / 100 as amount_eur,")
    c = classify(BASE_A, after, READS_AMOUNT)
    assert (c.kind, c.added, c.removed, c.changed, c.rows_changed) == ("non-breaking", ("amount_eur",), (), (), False)
    assert c.readers == () and "amount_eur" in c.reason


def test_a_removed_column_that_is_read_is_breaking() -> None:
    after = BASE_A.replace(" amount,", "")
    c = classify(BASE_A, after, READS_AMOUNT)
    assert (c.kind, c.removed) == ("breaking", ("amount",))
    assert [(r.name, r.columns) for r in c.readers] == [("b", ("amount",))]


def test_a_removed_column_nothing_reads_is_non_breaking() -> None:
    c = classify(BASE_A, BASE_A.replace(" amount,", ""), READS_STATUS_ONLY)
    assert (c.kind, c.removed, c.readers) == ("non-breaking", ("amount",), ())


def test_a_renamed_column_is_removed_and_added_and_breaks_its_reader() -> None:
    c = classify(BASE_A, BASE_A.replace(" amount,", " amount as total,"), READS_AMOUNT)
    assert (c.kind, c.added, c.removed) == ("breaking", ("total",), ("amount",))


def test_a_retyped_column_is_changed() -> None:
    after = BASE_A.replace(" amount,", " cast(amount as double) as amount,")
    assert classify(BASE_A, after, READS_AMOUNT).kind == "breaking"
    c = classify(BASE_A, after, READS_STATUS_ONLY)
    assert (c.kind, c.changed, c.rows_changed) == ("non-breaking", ("amount",), False)


def test_a_changed_filter_changes_every_column_and_the_rows() -> None:
    after = BASE_A.replace("<> 'x'", "<> 'y'")
    c = classify(BASE_A, after, READS_STATUS_ONLY)
    assert c.kind == "breaking" and c.rows_changed
    assert set(c.changed) == {"id", "amount", "status", "created_on"}
    assert [r.columns for r in c.readers] == [("id", "status")]
    # a reader that only counts rows is still affected by a filter...
    assert classify(BASE_A, after, COUNTS_ROWS).kind == "breaking"
    # ...but not by a new column
    assert classify(BASE_A, BASE_A.replace("status,", "status, 1 as one,"), COUNTS_ROWS).kind == "non-breaking"


def test_with_no_reader_any_change_is_non_breaking() -> None:
    c = classify(BASE_A, BASE_A.replace("<> 'x'", "<> 'y'").replace(" amount,", ""), None)
    assert c.kind == "non-breaking" and c.rows_changed and c.removed == ("amount",)


def test_an_exposure_reads_every_column() -> None:
    after = BASE_A.replace(" amount,", " cast(amount as double) as amount,")
    c = classify(BASE_A, after, None, exposure=True)
    assert c.kind == "breaking" and [(r.name, r.url, r.columns) for r in c.readers] == [
        ("Dash", "https://bi.example.com/dash", ("*",))]
    assert classify(BASE_A, BASE_A.replace("status,", "status, 1 as one,"), None, exposure=True).kind == "non-breaking"


def test_formatting_and_comments_are_metadata_only() -> None:
    after = ("-- same thing\nSELECT id,\n  amount, status,\n  CAST(created AS DATE) AS created_on\n"
             "FROM raw.t WHERE status <> 'x'")
    c = classify(BASE_A, after, READS_AMOUNT)
    assert (c.kind, c.added, c.removed, c.changed, c.rows_changed) == ("metadata-only", (), (), (), False)


def test_select_star_reader_breaks_on_any_column_change_including_new_ones() -> None:
    star = 'select * from "memory"."analytics"."a"'
    assert classify(BASE_A, BASE_A.replace("status,", "status, 1 as one,"), star).kind == "breaking"


def test_python_models_and_unparseable_sql_are_breaking_with_the_reason() -> None:
    c = classify(BASE_A, "select from from where", READS_STATUS_ONLY)
    assert c.kind == "breaking" and "could not parse" in c.reason
    base = manifest({"a": BASE_A, "b": READS_AMOUNT}, {"b": ["a"]})
    head = manifest({"a": None, "b": READS_AMOUNT}, {"b": ["a"]})  # type: ignore[dict-item]
    [p] = Classifier(base, head).classify(["model.p.a"])
    assert p.kind == "breaking" and "python model" in p.reason


def test_a_moved_table_is_breaking() -> None:
    c = classify(BASE_A, BASE_A, READS_AMOUNT, a={"alias": "a2"})
    assert c.kind == "breaking" and "alias" in c.reason


def test_a_change_in_a_cte_follows_the_lineage() -> None:
    before = ("with agg as (select customer_id, sum(amount) as total, count(*) as n from raw.o group by customer_id) "
              "select c.id, c.name, agg.total, agg.n from raw.c as c left join agg on c.id = agg.customer_id")
    after = before.replace("sum(amount) as total", "sum(amount) * 100 as total")
    c = classify(before, after, 'select id, name from "memory"."analytics"."a"')
    assert (c.kind, c.changed, c.rows_changed) == ("non-breaking", ("total",), False)
    c = classify(before, after, 'select id, total from "memory"."analytics"."a"')
    assert (c.kind, [r.columns for r in c.readers]) == ("breaking", [("total",)])


@pytest.mark.parametrize(("sql", "expected"), [
    ('select x.id, y.v from "memory"."analytics"."a" as x join raw.y as y on x.k = y.k', {"id", "k"}),
    ('select id from "memory"."analytics"."a" where flag', {"id", "flag"}),
    ('select a.* from "memory"."analytics"."a" as a', ALL),
    ("select id from raw.other", None),
    ('with s as (select * from "memory"."analytics"."a") select id from s', ALL),
])
def test_columns_read(sql: str, expected: object) -> None:
    assert columns_read(sql, Relation.parse('"memory"."analytics"."a"')) == expected


def test_output_columns_of_a_star_query_are_incomplete() -> None:
    q = output_columns("select *, 1 as one from raw.t")
    assert not q.complete and set(q.columns) == {"one", ROWS}


def test_trino_sql_of_two_branches_compares_equal_and_a_changed_filter_does_not() -> None:
    # the same model compiled on two branches of a static Trino catalog: only the branch differs
    base = 'select id, amount from "lake"."raw@main"."t" where amount > 0'
    same = 'select id, amount from "lake"."raw@pr-7"."t" where amount > 0'
    moved = 'select id, amount from "lake"."raw@pr-7"."t" where amount > 1'
    assert output_columns(base, "trino").columns == output_columns(same, "trino").columns
    assert output_columns(base, "trino").columns["amount"] != output_columns(moved, "trino").columns["amount"]
    relation = Relation.parse('"lake"."analytics@pr-7"."a"', dialect="trino")
    assert relation == Relation("analytics", "a")
    reader = 'select id, amount * 2 as double from "lake"."analytics@pr-7"."a"'
    assert columns_read(reader, relation, "trino") == {"id", "amount"}


@pytest.mark.parametrize(("reader", "expected"), [
    ("select * from __dbt__cte__eph", ALL),
    ("select e.* from __dbt__cte__eph as e join raw.t as t on e.a = t.a", ALL),
    ("select t.*, e.b from __dbt__cte__eph as e join raw.t as t on e.a = t.a", {"a", "b"}),
    ("select a from __dbt__cte__eph", {"a"}),
])
def test_a_star_over_an_ephemeral_models_cte_reads_all_of_it(reader: str, expected: object) -> None:
    """dbt inlines the ephemeral model's SQL as a CTE: ``select *`` over it must not become the
    CTE's columns on that side (a column the PR removes from it would then be read by no one)."""
    sql = f"with __dbt__cte__eph as (select a, b from raw.x) {reader}"
    assert columns_read(sql, Relation.parse(None, ephemeral_of="eph")) == expected
