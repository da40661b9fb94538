"""The diff queries render to exactly this SQL for DuckDB and Trino."""

from __future__ import annotations

from sqlglot import exp

from branchops.diff import queries as q

COLS = [q.DiffColumn("id", numeric=True), q.DiffColumn("n", cast=exp.DataType.build("BIGINT"), numeric=True),
        q.DiffColumn("f", is_float=True, numeric=True)]


def test_residue_hashes() -> None:
    base = q.source('"ref_main"."raw"."t"', "duckdb")
    head = q.source("read_parquet(['/w/a.parquet'], union_by_name = true)", "duckdb")
    assert q.residue_hashes(base, head, COLS, "duckdb").sql("duckdb") == (
        'SELECT __h, SUM(__s) AS __n FROM (SELECT HASH("id", CAST("n" AS BIGINT), "f") AS __h, 1 AS __s '
        'FROM "ref_main"."raw"."t" AS t UNION ALL SELECT HASH("id", "n", "f") AS __h, -1 AS __s '
        "FROM READ_PARQUET(['/w/a.parquet'], union_by_name = TRUE) AS t) AS u GROUP BY __h HAVING SUM(__s) <> 0"
    )
    trino_base, trino_head = q.source('"main"."raw"."t"', "trino"), q.source('"feat"."raw"."t"', "trino")
    assert q.residue_hashes(trino_base, trino_head, COLS[:2], "trino").sql("trino") == (
        'SELECT __h, SUM(__s) AS __n FROM (SELECT XXHASH64(TO_UTF8(JSON_FORMAT(CAST(ROW("id", CAST("n" AS BIGINT)) '
        'AS JSON)))) AS __h, 1 AS __s FROM "main"."raw"."t" AS t UNION ALL SELECT XXHASH64(TO_UTF8(JSON_FORMAT('
        'CAST(ROW("id", "n") AS JSON)))) AS __h, -1 AS __s FROM "feat"."raw"."t" AS t) AS u GROUP BY __h '
        "HAVING SUM(__s) <> 0"
    )


def test_residue_rows_keeps_only_the_copies_that_did_not_cancel() -> None:
    base = q.source('"main"."raw"."t"', "trino")
    sql = q.residue_rows(base, None, "hashes", COLS[:1], "trino").sql("trino")
    assert sql == (
        'SELECT 0 AS __side, __h, "id" FROM (SELECT r.__h, r."id", ROW_NUMBER() OVER (PARTITION BY r.__h) AS __rn, '
        'ABS(d.__n) AS __n FROM (SELECT XXHASH64(TO_UTF8(JSON_FORMAT(CAST(ROW("id") AS JSON)))) AS __h, "id" AS "id" '
        'FROM "main"."raw"."t" AS t) AS r JOIN hashes AS d ON r.__h = d.__h AND d.__n > 0) AS x WHERE __rn <= __n'
    )


def test_keyed_counts_same_sql_for_both_dialects() -> None:
    expected = (
        "SELECT COALESCE(SUM(CASE WHEN b.__rn IS NULL THEN 1 ELSE 0 END), 0) AS added, "
        "COALESCE(SUM(CASE WHEN h.__rn IS NULL THEN 1 ELSE 0 END), 0) AS removed, "
        "COALESCE(SUM(CASE WHEN (NOT b.__rn IS NULL AND NOT h.__rn IS NULL) AND "
        'CASE WHEN b."f" IS NULL AND h."f" IS NULL THEN FALSE WHEN b."f" IS NULL OR h."f" IS NULL THEN TRUE '
        'ELSE ABS(b."f" - h."f") > 1e-06 END THEN 1 ELSE 0 END), 0) AS changed, '
        "COALESCE(SUM(CASE WHEN (NOT b.__rn IS NULL AND NOT h.__rn IS NULL) AND "
        'CASE WHEN b."f" IS NULL AND h."f" IS NULL THEN FALSE WHEN b."f" IS NULL OR h."f" IS NULL THEN TRUE '
        'ELSE ABS(b."f" - h."f") > 1e-06 END THEN 1 ELSE 0 END), 0) AS c0 '
        'FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY __h) AS __rn FROM res WHERE __side = 0) AS b '
        'FULL OUTER JOIN (SELECT *, ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY __h) AS __rn FROM res '
        'WHERE __side = 1) AS h ON b."id" IS NOT DISTINCT FROM h."id" AND b.__rn = h.__rn'
    )
    for dialect in ("duckdb", "trino"):
        assert q.keyed_counts("res", ["id"], COLS[2:], 1e-6, dialect).sql(dialect) == expected


def test_profiles_and_duplicates_per_dialect() -> None:
    src = q.source('"main"."raw"."t"', "duckdb")
    prof = q.profiles(src, [q.DiffColumn("s")], 0)
    assert prof.sql("duckdb") == (
        'SELECT COUNT(*) AS rows, COUNT("s") AS n0, APPROX_COUNT_DISTINCT("s") AS d0, MIN("s") AS lo0, '
        'MAX("s") AS hi0 FROM "main"."raw"."t" AS t'
    )
    assert "APPROX_DISTINCT(\"s\") AS d0" in prof.sql("trino")
    assert q.duplicate_keys(src, ["a", "b"]).sql("trino") == (
        'SELECT COUNT(*) AS n FROM (SELECT t."a", t."b" FROM "main"."raw"."t" AS t GROUP BY t."a", t."b" '
        "HAVING COUNT(*) > 1) AS g"
    )


def test_key_groups_count_duplicates_in_the_same_pass() -> None:
    base = q.source('"main"."raw"."t"', "duckdb")
    head = q.source("read_parquet(['/w/a.parquet'], union_by_name = true)", "duckdb")
    assert q.key_groups(base, head, ["id"], COLS[:2], "duckdb").sql("duckdb") == (
        'SELECT "id", __nb, __nh, __nb <> __nh OR __sb IS DISTINCT FROM __sh AS __d FROM (SELECT "id", '
        "COUNT(*) FILTER(WHERE __side = 0) AS __nb, COUNT(*) FILTER(WHERE __side = 1) AS __nh, "
        "SUM(__h) FILTER(WHERE __side = 0) AS __sb, SUM(__h) FILTER(WHERE __side = 1) AS __sh FROM ("
        'SELECT "id" AS "id", HASH("id", CAST("n" AS BIGINT)) AS __h, 0 AS __side FROM "main"."raw"."t" AS t '
        'UNION ALL SELECT "id" AS "id", HASH("id", "n") AS __h, 1 AS __side '
        "FROM READ_PARQUET(['/w/a.parquet'], union_by_name = TRUE) AS t) AS u GROUP BY \"id\") AS g "
        "WHERE (__nb <> __nh OR __sb IS DISTINCT FROM __sh) OR __nb > 1 OR __nh > 1"
    )
    trino = q.key_groups(q.source('"main"."raw"."t"', "trino"), None, ["id"], COLS[:1], "trino").sql("trino")
    assert "SUM(CAST(FROM_BIG_ENDIAN_64(__h) AS DECIMAL(38, 0))) FILTER(WHERE __side = 0) AS __sb" in trino
    assert q.duplicate_counts("g", "trino").sql("trino") == (
        "SELECT COUNT(*) FILTER(WHERE __nb > 1) AS __nb, COUNT(*) FILTER(WHERE __nh > 1) AS __nh FROM g"
    )
    assert q.key_rows(base, "g", 0, ["n"], COLS[:2], "duckdb").sql("duckdb") == (
        'SELECT t."id" AS "id", CAST(t."n" AS BIGINT) AS "n" FROM "main"."raw"."t" AS t JOIN '
        '(SELECT "n" FROM g WHERE __d) AS g ON CAST(t."n" AS BIGINT) IS NOT DISTINCT FROM g."n"'
    )
